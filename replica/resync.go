package replica

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/blockrep/blockrep/delta"
)

// ErrNoReplicaPoint is returned by Resynchronize when the replica holds no
// recovery point of the group to compare with: the group needs its
// initial replication, not a resynchronization.
var ErrNoReplicaPoint = errors.New("replica: the replica holds no recovery point to resynchronize with")

// ErrResyncMismatch is returned by Resynchronize when the replica
// committed the resynchronized point but its content hash is not the one
// of the primary's image: the two sides still differ (the volume was
// written behind the tracker's back during the resynchronization). The
// relationship stays ResynchronizationRequired.
var ErrResyncMismatch = errors.New("replica: after resynchronization the replica's content hash differs from the primary's")

// ResyncResult describes one resynchronization.
type ResyncResult struct {
	Point delta.PointID `json:"point"` // the point the resynchronization made
	Base  delta.PointID `json:"base"`  // the replica's latest point it compared with
	Time  time.Time     `json:"time"`  // the freeze instant the point represents
	// DifferingBlocks is how many blocks the hash comparison found
	// different between the primary's volumes and the replica's point.
	DifferingBlocks int64 `json:"differing_blocks"`
	// DifferingPages is how many PageSize pages of those blocks differ:
	// a query of page digests (ResyncPagesQuery) narrows the differing
	// blocks to them, and only they are marked for the delta.
	DifferingPages int64 `json:"differing_pages"`
	// Blocks is how many blocks the delta carried: the differing ones and
	// those the host wrote while the comparison ran.
	Blocks int64 `json:"blocks"`
	// Pages is how many pages of those blocks the delta carried.
	Pages int64 `json:"pages"`
	// HashRounds is the number of query/answer round trips of the
	// comparison; HashBytes the bytes of those queries and answers.
	HashRounds int64 `json:"hash_rounds"`
	HashBytes  int64 `json:"hash_bytes"`
	// PageHashBytes is the part of HashBytes the page digests of the
	// differing blocks took (ResyncPagesQuery and its answers).
	PageHashBytes int64 `json:"page_hash_bytes"`
	// StreamBytes is the size of the delta stream.
	StreamBytes int64         `json:"delta_size"`
	Latency     time.Duration `json:"latency"` // start to acknowledgement
	Hash        delta.Hash    `json:"hash"`    // the point's content hash, equal on both sides
}

// Resynchronize brings the replica back to the primary's content when the
// set of changed blocks is unknown: the relationship is
// ResynchronizationRequired (tracking lost, or the replica at a point this
// primary did not send), or an operator asks for it from Replicating or
// Suspended. See the package documentation's Resynchronization section.
//
// PrimaryConfig.OnCycle hears of the outcome (CycleEvent.Resync). The
// state is Resynchronizing while it runs, Replicating once the replica
// acknowledged the point, and ResynchronizationRequired again on any
// failure, which loses nothing: the next attempt compares again. It returns
// a *StateError from any other state, ErrNoReplicaPoint when the replica
// holds no point, ErrResyncMismatch when the two sides still differ
// afterwards, or the transport's or the replica's error.
// PrimaryConfig.CycleTimeout does not bound it (reading whole volumes takes
// the time it takes); cancel ctx to stop it.
//
// A relationship suspended before its initial replication completed has
// nothing replicated to compare with: Resynchronize refuses it with a
// *StateError and changes nothing (Resume, then InitialReplication). When
// the replica holds no point at all (ErrNoReplicaPoint), the relationship
// goes back to InitialReplicationPending rather than staying
// ResynchronizationRequired, and the next InitialReplication (or Run)
// sends the full copy.
func (r *Relationship) Resynchronize(ctx context.Context) (ResyncResult, error) {
	if err := r.acquire(ctx); err != nil {
		return ResyncResult{}, err
	}
	defer r.release()
	return r.resyncLocked(ctx)
}

// LastResync returns the result of the last successful resynchronization
// (zero if none).
func (r *Relationship) LastResync() ResyncResult {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.lastResync
}

func (r *Relationship) resyncLocked(ctx context.Context) (ResyncResult, error) {
	switch st := r.State(); st {
	case Replicating, Suspended:
		if err := r.resyncRefusal(st); err != nil { // initial_unknown.go
			return ResyncResult{}, err
		}
		if err := r.transition("resynchronization requested", ResynchronizationRequired); err != nil {
			return ResyncResult{}, err
		}
	case ResynchronizationRequired:
	default:
		return ResyncResult{}, &StateError{Op: "resynchronize", From: st, To: Resynchronizing}
	}
	if err := r.transition("resynchronize", Resynchronizing); err != nil {
		return ResyncResult{}, err
	}
	start := r.clock.Now()
	res, err := r.resync(ctx)
	now := r.clock.Now()
	r.mu.Lock()
	switch {
	case err != nil && ctx.Err() != nil:
	case err != nil:
		r.stats.failure(err, isFatal(err))
	default:
		res.Latency = now.Sub(start)
		r.lastResync = res
		r.stats.lastSuccess = now
		r.stats.lastErr, r.stats.fatal, r.stats.failures = nil, false, 0
	}
	r.mu.Unlock()
	if err != nil {
		r.closeConn()
		if errors.Is(err, ErrNoReplicaPoint) {
			r.transition("the replica holds no point: initial replication needed", InitialReplicationPending)
		} else {
			r.transition("resynchronization failed", ResynchronizationRequired)
		}
		r.log.Warn("resynchronization failed", "err", err)
		r.reportResync(ResyncResult{}, err)
		return ResyncResult{}, err
	}
	r.transition("resynchronization done", Replicating)
	r.log.Info("resynchronization done", "point", res.Point, "differing_blocks", res.DifferingBlocks,
		"blocks", res.Blocks, "hash_bytes", res.HashBytes, "delta_bytes", res.StreamBytes)
	r.reportResync(res, nil)
	return res, nil
}

// reportResync tells PrimaryConfig.OnCycle of a finished resynchronization.
func (r *Relationship) reportResync(res ResyncResult, err error) {
	f := r.host.cfg.OnCycle
	if f == nil {
		return
	}
	f(CycleEvent{Group: r.cfg.ID, Resync: true, Err: err, Result: CycleResult{
		Point:       res.Point,
		Base:        res.Base,
		Time:        res.Time,
		Blocks:      res.Blocks,
		StreamBytes: res.StreamBytes,
		Latency:     res.Latency,
		Hash:        res.Hash,
	}})
}

// resync runs the comparison and the transfer. Why it is exact:
//
//  1. The tracker records every write from before the hash pass starts
//     until the freeze (a write is marked before it begins).
//  2. The hash pass reads the live volumes. A block no write touched
//     since has, at the freeze, the content the pass hashed.
//  3. The freeze holds the blocks whose hashes differ from the replica's
//     (marked just before it) and every block written meanwhile.
//
// So a block outside the frozen set equals the replica's already, and the
// frozen set, sent as of the freeze instant, makes the replica's new
// point the primary's image at the freeze. Each block is read once by the
// hash pass and once more only if it is sent.
func (r *Relationship) resync(ctx context.Context) (ResyncResult, error) {
	var res ResyncResult
	// A fresh connection brings the replica's current status.
	r.closeConn()
	st, err := r.connect(ctx)
	if err != nil {
		return res, err
	}
	if err := failedOver(st); err != nil {
		return res, err
	}
	switch {
	case !st.Exists:
		return res, fmt.Errorf("replica: %w: group %q", ErrUnknownGroup, r.cfg.ID)
	case st.Latest.IsZero():
		return res, fmt.Errorf("%w: group %q", ErrNoReplicaPoint, r.cfg.ID)
	}
	res.Base = st.Latest

	lists := make([]*delta.HashList, len(r.included))
	for ti, ci := range r.included {
		l, err := delta.HashVolume(ctx, r.cfg.Volumes[ci].Volume, r.geoms[ti], r.seedHashOpts(ti)...)
		if err != nil {
			return res, fmt.Errorf("replica: hash volume %s: %w", r.infos[ti].ID, err)
		}
		lists[ti] = l
	}
	for ti := range r.included {
		diff, err := r.compareVolume(ctx, st.Latest, ti, lists[ti], &res)
		if err != nil {
			return res, err
		}
		if err := r.markDiffering(ctx, st.Latest, ti, diff, &res); err != nil { // resync_pages.go
			return res, err
		}
	}

	frozen, err := r.tracker.Freeze(ctx)
	if err != nil {
		return res, fmt.Errorf("replica: freeze: %w", err)
	}
	src := newResyncSource(frozen, lists)
	ack, sent, err := r.sendDelta(ctx, outDelta{what: "resync delta", src: src, base: st.Latest, at: frozen.Time(), cons: delta.ConsistencyCrash, opts: r.seedEncodeOpts()})
	if err != nil {
		if rerr := frozen.Restore(); rerr != nil {
			err = errors.Join(err, fmt.Errorf("replica: restore frozen blocks: %w", rerr))
		}
		return res, err
	}
	res.Point, res.Time, res.Hash = ack.Point, frozen.Time(), ack.Hash
	res.Blocks = frozen.Dirty().Blocks
	res.Pages = frozen.Dirty().Pages
	res.StreamBytes = sent.StreamBytes
	r.mu.Lock()
	r.lastPoint, r.lastTime, r.lastHash, r.inDoubt = ack.Point, frozen.Time(), ack.Hash, delta.PointID{}
	r.mu.Unlock()

	want, err := src.groupRoot()
	if err == nil && want != ack.Hash {
		err = fmt.Errorf("%w: replica %s, primary %s", ErrResyncMismatch, ack.Hash, want)
	}
	if err != nil {
		if rerr := frozen.Restore(); rerr != nil {
			err = errors.Join(err, fmt.Errorf("replica: restore frozen blocks: %w", rerr))
		}
		return res, err
	}
	if err := frozen.Commit(ctx); err != nil {
		r.log.Warn("commit of resynchronized blocks failed; they will be sent again", "err", err)
		frozen.Restore()
	}
	return res, nil
}

// markSet marks the blocks of set dirty in volume ti.
func (r *Relationship) markSet(ti int, set *delta.Set) error {
	g := r.geoms[ti]
	bs := int64(g.BlockSize)
	for start, count := range set.Runs() {
		off := start * bs
		end := min((start+count)*bs, g.Size)
		if err := r.tracker.Mark(ti, off, end-off); err != nil {
			return fmt.Errorf("replica: mark volume %s: %w", r.infos[ti].ID, err)
		}
	}
	return nil
}
