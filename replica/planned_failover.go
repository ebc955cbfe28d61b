package replica

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/blockrep/blockrep/delta"
)

// Sentinel errors of planned failover.
var (
	// ErrPreparedForFailover is returned by the writes of
	// Relationship.Volume (of the replicated volumes; excluded ones stay
	// writable) once a planned failover (or a Demote) stopped them: the
	// host is expected to have stopped its VM, and the gate makes sure no
	// write slips past the final delta. A planned failover that fails lets
	// writes through again.
	ErrPreparedForFailover = errors.New("replica: writes stopped for a planned failover")

	// ErrFailoverMismatch is returned by PlannedFailover when the content
	// hash the replica acknowledged for the final point is not the one of
	// the primary's image (nothing is promoted, and the relationship is
	// ResynchronizationRequired), and by Demote when the copy it stored
	// does not hash to the final point's content hash.
	ErrFailoverMismatch = errors.New("replica: the replica's content differs from the primary's image")
)

// PlannedFailoverOption configures PlannedFailover.
type PlannedFailoverOption func(*plannedOptions) error

type plannedOptions struct {
	reverseTo string
}

// WithReverseTo names the address of this host's ReplicaHost: the
// promotion carries it, and the promoted replica host hands it to its
// ReplicaConfig.OnPromoted, so that a host tool can start Reverse toward
// it by itself. Empty (the default): no reverse address. At most 255
// bytes.
func WithReverseTo(addr string) PlannedFailoverOption {
	return func(o *plannedOptions) error {
		if len(addr) > maxAddrLen {
			return fmt.Errorf("%w: reverse address of %d bytes exceeds %d", ErrInvalidConfig, len(addr), maxAddrLen)
		}
		o.reverseTo = addr
		return nil
	}
}

// PlannedFailoverResult describes a planned failover.
type PlannedFailoverResult struct {
	Point       delta.PointID `json:"point"`      // the final point, on both sides
	Time        time.Time     `json:"time"`       // the instant it represents
	Hash        delta.Hash    `json:"hash"`       // content hash both sides confirmed
	Blocks      int64         `json:"blocks"`     // blocks the final cycle sent
	StreamBytes int64         `json:"delta_size"` // bytes of its delta stream
}

// PlannedFailover hands the group over to the replica with nothing lost,
// from a Replicating relationship whose host stopped writing (its VM shut
// down):
//
//  1. writes through Volume are refused from now on with
//     ErrPreparedForFailover (those in flight finish first);
//  2. a final cycle sends everything still dirty;
//  3. the primary hashes its image (delta.HashVolume and delta.GroupRoot,
//     reading every volume once) and compares it with the content hash
//     the replica acknowledged: a difference is ErrFailoverMismatch and
//     nothing is promoted;
//  4. a Promote message asks the replica host to become the group's
//     primary at the final point; it checks that the point is its latest
//     and the group Replicating — a running test failover or unplanned
//     failover is refused with CodeStateConflict (stop or cancel it first)
//     — records the group FailedOver durably and acknowledges.
//
// Then the relationship is PreparedForFailover and the result names the
// final point. PrimaryHost.Demote makes this host the replica of the new
// primary (ReplicaHost.Reverse on the other side) without resync.
//
// Any failure before the promotion is acknowledged leaves the relationship
// Replicating with writes allowed again and nothing lost: a failed final
// cycle restores its frozen blocks, and a point the replica committed is
// the relationship's last point. If the acknowledgement of the promotion
// is lost, calling PlannedFailover again (without writing meanwhile)
// finds the replica promoted at the final point and completes. Errors: a
// *StateError unless Replicating, ErrFailoverMismatch, ErrReplicaFailedOver
// (with ErrSplitBrain when the host wrote since), a *RemoteError, the
// transport's error.
func (r *Relationship) PlannedFailover(ctx context.Context, opts ...PlannedFailoverOption) (PlannedFailoverResult, error) {
	var o plannedOptions
	for _, opt := range opts {
		if err := opt(&o); err != nil {
			return PlannedFailoverResult{}, err
		}
	}
	if err := r.acquire(ctx); err != nil {
		return PlannedFailoverResult{}, err
	}
	defer r.release()
	if st := r.State(); st != Replicating {
		return PlannedFailoverResult{}, &StateError{Op: "planned failover", From: st, To: PreparedForFailover}
	}
	r.roles.gate.close()
	res, err := r.plannedLocked(ctx, o)
	if err != nil {
		r.roles.gate.open()
		r.log.Warn("planned failover failed; writes allowed again", "err", err)
		return PlannedFailoverResult{}, err
	}
	r.log.Info("planned failover done", "point", res.Point, "blocks", res.Blocks)
	return res, nil
}

func (r *Relationship) plannedLocked(ctx context.Context, o plannedOptions) (PlannedFailoverResult, error) {
	var res PlannedFailoverResult
	// A fresh connection brings the replica's status: an earlier attempt
	// may have promoted it already.
	r.closeConn()
	cyc, err := r.cycleLocked(ctx)
	retry := false
	if err != nil {
		if !errors.Is(err, ErrReplicaFailedOver) || r.tracker.Pending().Blocks != 0 {
			return res, err
		}
		// Nothing was written since the last point: perhaps an earlier
		// attempt's promotion whose acknowledgement was lost. The replica
		// decides: it acknowledges again only if it was promoted at our
		// last point.
		retry = true
	}
	want, err := r.imageHash(ctx)
	if err != nil {
		return res, err
	}
	r.mu.Lock()
	point, at := r.lastPoint, r.lastTime
	r.mu.Unlock()
	if !retry && want != cyc.Hash {
		r.transition("planned failover found the sides different", ResynchronizationRequired)
		return res, fmt.Errorf("%w: final point %s: replica %s, primary %s", ErrFailoverMismatch, point, cyc.Hash, want)
	}
	if err := r.transition("planned failover", PreparedForFailover); err != nil {
		return res, err
	}
	ack, err := r.promote(ctx, point, o.reverseTo)
	if err == nil && ack.Hash != want {
		err = fmt.Errorf("%w: promoted point %s: replica %s, primary %s", ErrFailoverMismatch, point, ack.Hash, want)
	}
	if err != nil {
		r.transition("promotion failed", Replicating)
		return res, err
	}
	return PlannedFailoverResult{Point: point, Time: at, Hash: want, Blocks: cyc.Blocks, StreamBytes: cyc.StreamBytes}, nil
}

// imageHash hashes the included volumes as they are (writes are stopped):
// the content hash the replica's point of them must have.
func (r *Relationship) imageHash(ctx context.Context) (delta.Hash, error) {
	lists := make([]*delta.HashList, len(r.included))
	for ti, ci := range r.included {
		l, err := delta.HashVolume(ctx, r.cfg.Volumes[ci].Volume, r.geoms[ti])
		if err != nil {
			return delta.Hash{}, fmt.Errorf("replica: hash volume %s: %w", r.infos[ti].ID, err)
		}
		lists[ti] = l
	}
	return delta.GroupRoot(lists), nil
}

// promote asks the replica to become the group's primary at point.
func (r *Relationship) promote(ctx context.Context, point delta.PointID, reverseTo string) (ackMsg, error) {
	if _, err := r.connect(ctx); err != nil {
		return ackMsg{}, err
	}
	m := promoteMsg{Group: r.cfg.ID, Point: point, ReverseTo: reverseTo}
	if err := sendMsg(ctx, r.conn, m); err != nil {
		r.closeConn()
		return ackMsg{}, fmt.Errorf("replica: promote: %w", err)
	}
	reply, buf, err := expectReply[promotedMsg](ctx, r.conn, r.buf)
	r.buf = buf
	if err != nil {
		r.closeConn()
		return ackMsg{}, fmt.Errorf("replica: promote %s: %w", point, err)
	}
	ack := ackMsg(reply)
	if ack.Group != r.cfg.ID || ack.Point != point {
		r.closeConn()
		return ackMsg{}, fmt.Errorf("%w: promotion acknowledged for %s/%s, want %s/%s", ErrProtocol, ack.Group, ack.Point, r.cfg.ID, point)
	}
	return ack, nil
}
