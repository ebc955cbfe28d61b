package replica

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/blockrep/blockrep/delta"
	"github.com/blockrep/blockrep/transport"
)

// CycleResult describes one acknowledged cycle or initial replication.
type CycleResult struct {
	Point         delta.PointID `json:"point"`
	Base          delta.PointID `json:"base"`
	Time          time.Time     `json:"time"` // the freeze instant the point represents
	AppConsistent bool          `json:"app_consistent"`
	Blocks        int64         `json:"blocks"`     // dirty blocks sent
	StreamBytes   int64         `json:"delta_size"` // bytes of the delta stream
	Latency       time.Duration `json:"latency"`    // freeze to acknowledgement
	Hash          delta.Hash    `json:"hash"`       // the point's content hash on the replica
	Replayed      bool          `json:"replayed"`   // the replica had the point already
}

// errUnknownReplicaPoint is the cause of ResynchronizationRequired when the
// replica is at a point this primary never sent.
var errUnknownReplicaPoint = errors.New("replica: the replica's latest point is not one this primary sent")

// InitialReplication sends the first full copy of the group now: every
// block that is not zero (the replica's volumes start zero-filled), as of
// one freeze instant, while the host goes on writing. On success the
// relationship is Replicating with its first recovery point. It returns a
// *StateError unless the relationship is InitialReplicationPending.
//
// With GroupConfig.Initial.Mode Media it exports the copy to
// Initial.MediaDir instead and returns the exported point's result while
// the relationship stays InitialReplicationInProgress; called again then,
// it asks the replica whether the point was imported (ErrSeedMissing while
// not). With Seed it compares with the replica's seed and sends only the
// blocks that differ (ErrSeedMissing while the replica holds no seed). See
// the package documentation's initial replication section.
func (r *Relationship) InitialReplication(ctx context.Context) (CycleResult, error) {
	if err := r.acquire(ctx); err != nil {
		return CycleResult{}, err
	}
	defer r.release()
	return r.initialLocked(ctx)
}

func (r *Relationship) initialLocked(ctx context.Context) (CycleResult, error) {
	if r.cfg.Initial.Mode != Network {
		return r.initialCopyLocked(ctx) // Media or Seed: initial_media.go
	}
	if err := r.transition("initial replication", InitialReplicationInProgress); err != nil {
		return CycleResult{}, err
	}
	res, err := r.transfer(ctx, true)
	// The state moves before the outcome is reported, so that whoever
	// hears of it (OnCycle) sees the state it led to.
	if err != nil {
		if r.State() == InitialReplicationInProgress {
			r.transition("initial replication failed", InitialReplicationPending)
		}
	} else {
		r.transition("initial replication done", Replicating)
	}
	r.finish(ctx, true, res, err)
	if err != nil {
		return CycleResult{}, err
	}
	return res, nil
}

// Cycle runs one replication cycle now: freeze every volume of the group
// at one instant, send the frozen blocks, wait for the replica to commit
// them as a recovery point, then drop them from tracking. On any failure
// the frozen blocks are merged back, so the next cycle sends them; the
// error is counted in the statistics. It returns a *StateError unless the
// relationship is Replicating.
func (r *Relationship) Cycle(ctx context.Context) (CycleResult, error) {
	if err := r.acquire(ctx); err != nil {
		return CycleResult{}, err
	}
	defer r.release()
	return r.cycleLocked(ctx)
}

func (r *Relationship) cycleLocked(ctx context.Context) (CycleResult, error) {
	if st := r.State(); st != Replicating {
		return CycleResult{}, &StateError{Op: "cycle", From: st}
	}
	if pend := r.reversePending(); pend != nil {
		return r.reverseCycleLocked(ctx, pend) // the first cycle of a reverse relationship: reverse_cycle.go
	}
	res, err := r.transfer(ctx, false)
	err = r.splitBrainOf(ctx, err) // splitbrain.go
	r.finish(ctx, false, res, err)
	return res, err
}

// finish records an attempt's outcome and reports it. An attempt stopped
// because its caller's ctx ended (Run stopping, Remove) is reported but not
// counted as an error: it is not a replication failure.
func (r *Relationship) finish(ctx context.Context, initial bool, res CycleResult, err error) {
	r.mu.Lock()
	switch {
	case err != nil && ctx.Err() != nil:
	case err == nil && initial:
		r.stats.lastSuccess = r.clock.Now()
		r.stats.lastErr, r.stats.fatal, r.stats.failures = nil, false, 0
	case err == nil:
		r.stats.success(r.clock.Now(), res.StreamBytes, res.Latency)
	default:
		r.stats.failure(err, isFatal(err))
	}
	r.mu.Unlock()
	if err != nil {
		r.log.Warn("cycle failed", "initial", initial, "err", err)
	} else {
		r.log.Debug("cycle done", "initial", initial, "point", res.Point, "bytes", res.StreamBytes)
	}
	if f := r.host.cfg.OnCycle; f != nil {
		f(CycleEvent{Group: r.cfg.ID, Initial: initial, Result: res, Err: err})
	}
}

// isFatal reports whether retrying err cannot help until someone acts: the
// replica refused the primary for good (authorization, versions, a group it
// does not have, volumes that differ), or it is at a point this primary
// never sent. Everything else — a lost connection, a timeout, a full disk
// on the replica, a quiesce hook that failed — is retried.
func isFatal(err error) bool {
	// A failover on the replica ends when someone cancels it there; the
	// retries then succeed, and Health gives the reason of its own.
	if errors.Is(err, ErrReplicaFailedOver) || errors.Is(err, ErrAwaitingDemote) {
		return false
	}
	var remote *RemoteError
	if errors.As(err, &remote) {
		return !remote.Temporary()
	}
	for _, target := range []error{transport.ErrUnauthenticated, transport.ErrUnauthorized, ErrProtocol, ErrVersion, ErrUnknownGroup, errUnknownReplicaPoint, ErrReplicaNotEmpty, ErrNoCommonPoint, ErrSplitBrain} {
		if errors.Is(err, target) {
			return true
		}
	}
	return false
}

// transfer runs one freeze-send-acknowledge round. full selects an initial
// replication (every non-zero block, from no base).
func (r *Relationship) transfer(ctx context.Context, full bool) (res CycleResult, err error) {
	if d := r.host.cfg.CycleTimeout; d > 0 {
		var stop func()
		ctx, stop = r.withTimeout(ctx, d)
		defer func() {
			if err != nil && context.Cause(ctx) == ErrCycleTimeout {
				err = fmt.Errorf("%w after %s: %w", ErrCycleTimeout, d, err)
			}
			stop()
		}()
	}
	if full {
		if err := r.markNonZero(ctx); err != nil {
			return res, err
		}
	}
	app := r.appDue()
	r.wantApp.Store(app)
	frozen, err := r.tracker.Freeze(ctx)
	r.wantApp.Store(false)
	if err != nil {
		if errors.Is(err, delta.ErrTrackingLost) {
			r.transition("tracking lost", ResynchronizationRequired)
		}
		return res, fmt.Errorf("replica: freeze: %w", err)
	}
	res, err = r.send(ctx, frozen, full, app)
	if err != nil {
		if rerr := frozen.Restore(); rerr != nil {
			err = errors.Join(err, fmt.Errorf("replica: restore frozen blocks: %w", rerr))
		}
		r.closeConn()
		if errors.Is(err, errUnknownReplicaPoint) && !full {
			r.transition("replica at an unknown point", ResynchronizationRequired)
		}
		return CycleResult{}, r.recheckRefusal(ctx, err) // refusal_recheck.go
	}
	if err := frozen.Commit(ctx); err != nil {
		// The point is on the replica; the blocks stay dirty and travel
		// once more in the next cycle, which is harmless.
		r.log.Warn("commit of acknowledged blocks failed; they will be sent again", "err", err)
		frozen.Restore()
	}
	return res, nil
}

// withTimeout returns ctx cancelled with cause ErrCycleTimeout once d has
// passed on the host's clock. stop releases the timer and its goroutine.
func (r *Relationship) withTimeout(ctx context.Context, d time.Duration) (context.Context, func()) {
	ctx, cancel := context.WithCancelCause(ctx)
	t := r.clock.NewTimer(d)
	done, exited := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(exited)
		select {
		case <-t.C():
			cancel(ErrCycleTimeout)
		case <-done:
		}
	}()
	return ctx, func() {
		t.Stop()
		close(done)
		<-exited
		cancel(nil)
	}
}

// appDue reports whether the next freeze should be app-consistent.
func (r *Relationship) appDue() bool {
	if r.cfg.Quiesce == nil || r.cfg.AppConsistentInterval <= 0 {
		return false
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.lastApp.IsZero() || r.clock.Now().Sub(r.lastApp) >= r.cfg.AppConsistentInterval
}

// markNonZero marks every block that is not all zero, so that the next
// freeze holds the whole content of the volumes. Writes during the scan are
// tracked anyway, so a block the scan saw as zero and that is written
// later is in the freeze too.
func (r *Relationship) markNonZero(ctx context.Context) error {
	const chunk = 1 << 20
	buf := make([]byte, max(chunk, r.cfg.BlockSize))
	for ti, ci := range r.included {
		v := r.cfg.Volumes[ci]
		bs := int64(r.cfg.BlockSize)
		if sv, ok := sparseOf(v.Volume); ok { // initial_sparse.go: skip the holes
			if err := markNonZeroSparse(ctx, r.tracker, ti, v, bs, buf, sv); err != nil {
				return err
			}
			continue
		}
		step := int64(len(buf)) / bs * bs
		for off := int64(0); off < v.Size; off += step {
			if err := ctx.Err(); err != nil {
				return err
			}
			n := min(step, v.Size-off)
			p := buf[:n]
			if _, err := v.Volume.ReadAt(p, off); err != nil {
				return fmt.Errorf("replica: scan volume %s at %d: %w", v.Name, off, err)
			}
			for b := int64(0); b < n; b += bs {
				blk := p[b:min(b+bs, n)]
				if !allZero(blk) {
					if err := r.tracker.Mark(ti, off+b, int64(len(blk))); err != nil {
						return fmt.Errorf("replica: mark volume %s: %w", v.Name, err)
					}
				}
			}
		}
	}
	return nil
}

func allZero(p []byte) bool {
	for len(p) >= 8 {
		if p[0]|p[1]|p[2]|p[3]|p[4]|p[5]|p[6]|p[7] != 0 {
			return false
		}
		p = p[8:]
	}
	for _, c := range p {
		if c != 0 {
			return false
		}
	}
	return true
}

// connect returns the connection to the replica, dialing and greeting it
// when there is none; the Status of a new connection is returned (nil for
// a connection kept from an earlier round).
func (r *Relationship) connect(ctx context.Context) (*statusMsg, error) {
	now := r.clock.Now()
	if r.conn != nil && r.host.cfg.MaxIdle > 0 && now.Sub(r.connUsed) > r.host.cfg.MaxIdle {
		r.closeConn() // likely dropped by the transport while idle: dial anew
	}
	if r.conn != nil {
		r.connUsed = now
		return nil, nil
	}
	conn, err := r.host.cfg.Transport.Dial(ctx, r.cfg.Replica)
	if err != nil {
		return nil, fmt.Errorf("replica: dial %s: %w", r.cfg.Replica, err)
	}
	r.mu.Lock()
	last := r.lastPoint
	r.mu.Unlock()
	if err := sendMsg(ctx, conn, helloMsg{Version: ProtocolVersion, Group: r.cfg.ID, Point: last}); err != nil {
		conn.Close()
		return nil, fmt.Errorf("replica: hello: %w", err)
	}
	st, buf, err := expectReply[statusMsg](ctx, conn, r.buf)
	r.buf = buf
	if err != nil {
		conn.Close()
		return nil, fmt.Errorf("replica: hello: %w", err)
	}
	if st.Group != r.cfg.ID {
		conn.Close()
		return nil, fmt.Errorf("%w: status of group %q, want %q", ErrProtocol, st.Group, r.cfg.ID)
	}
	r.conn, r.connUsed = conn, now
	return &st, nil
}

// createOnReplica asks the replica to create the group.
func (r *Relationship) createOnReplica(ctx context.Context) error {
	if _, err := r.connect(ctx); err != nil {
		return err
	}
	m := createGroupMsg{
		Group:     r.cfg.ID,
		BlockSize: uint32(r.cfg.BlockSize),
		Volumes:   r.infos,
		Retention: r.cfg.Retention,
		Meta:      r.cfg.Metadata,
		Failover:  r.cfg.FailoverSettings,
	}
	if err := checkMessage(m); err != nil {
		return err
	}
	if err := sendMsg(ctx, r.conn, m); err != nil {
		return fmt.Errorf("replica: create group: %w", err)
	}
	_, buf, err := expectReply[ackMsg](ctx, r.conn, r.buf)
	r.buf = buf
	if err != nil {
		return fmt.Errorf("replica: create group %q: %w", r.cfg.ID, err)
	}
	return nil
}

// failedOver returns an error wrapping ErrReplicaFailedOver and
// ErrInvalidState when st says the group is failed over on the replica,
// which then refuses every delta. Its latest point may be one this primary
// never sent (a completed failover commits one), which is no reason to
// resynchronize: the replica is not replicating from us at all.
func failedOver(st *statusMsg) error {
	if !st.Exists || (st.State != FailedOverWaitingCompletion && st.State != FailedOver) {
		return nil
	}
	return fmt.Errorf("%w (%s on the replica): %w", ErrReplicaFailedOver, st.State, ErrInvalidState)
}

// refusal marks a Nack with CodeStateConflict as what it means: the group
// is failed over on the replica, the only state in which a replica
// refuses deltas and resync queries.
func refusal(err error) error {
	var remote *RemoteError
	if errors.As(err, &remote) && remote.Code == CodeStateConflict {
		return fmt.Errorf("%w: %w", ErrReplicaFailedOver, err)
	}
	return err
}

// base decides the base point of the next delta from the replica's
// status: the last acknowledged point, or the point whose acknowledgement
// was lost (the replica committed it).
func (r *Relationship) base(st *statusMsg, full bool) (delta.PointID, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if st == nil {
		return r.lastPoint, nil
	}
	if err := failedOver(st); err != nil {
		r.roles.replicaState.Store(uint32(st.State)) // for splitBrainOf
		return delta.PointID{}, err
	}
	switch {
	case st.Latest == r.lastPoint:
		return r.lastPoint, nil
	case r.inDoubtLocked(st.Latest):
		r.log.Info("replica committed a point whose acknowledgement was lost", "point", st.Latest)
		r.lastPoint, r.lastTime, r.inDoubt = st.Latest, st.Time, delta.PointID{}
		return r.lastPoint, nil
	case !st.Exists:
		return delta.PointID{}, fmt.Errorf("replica: %w: group %q", ErrUnknownGroup, r.cfg.ID)
	case full:
		return r.initialBaseLocked(st) // initial_unknown.go
	}
	return delta.PointID{}, fmt.Errorf("%w: replica at %s, last acknowledged %s", errUnknownReplicaPoint, st.Latest, r.lastPoint)
}

// send streams the frozen set to the replica and waits for its verdict.
func (r *Relationship) send(ctx context.Context, frozen *delta.Frozen, full, app bool) (CycleResult, error) {
	var res CycleResult
	st, err := r.connect(ctx)
	if err != nil {
		return res, err
	}
	base, err := r.base(st, full)
	if err != nil {
		return res, err
	}
	if err := r.flushUpdate(ctx); err != nil { // changes after Enable go first: update_group.go
		return res, err
	}
	out := outDelta{what: "delta", src: frozen, base: base, at: frozen.Time(), cons: delta.ConsistencyCrash}
	if app {
		out.cons = delta.ConsistencyApp
	}
	if full {
		out.opts = append(out.opts, delta.WithProgress(func(done, total int64) {
			r.mu.Lock()
			r.stats.initialDone, r.stats.initialTotal = done, total
			r.mu.Unlock()
			if p := r.cfg.Initial.Progress; p != nil {
				p(done, total)
			}
		}))
	}
	ack, est, err := r.sendDelta(ctx, out)
	if err != nil {
		return res, err
	}
	now := r.clock.Now()
	r.mu.Lock()
	r.lastPoint, r.lastTime, r.lastHash, r.inDoubt = ack.Point, frozen.Time(), ack.Hash, delta.PointID{}
	if app {
		r.lastApp = frozen.Time()
	}
	r.mu.Unlock()
	d := frozen.Dirty()
	return CycleResult{
		Point:         ack.Point,
		Base:          base,
		Time:          frozen.Time(),
		AppConsistent: app,
		Blocks:        d.Blocks,
		StreamBytes:   est.StreamBytes,
		Latency:       now.Sub(frozen.Time()),
		Hash:          ack.Hash,
		Replayed:      ack.Replayed,
	}, nil
}
