package replica

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/blockrep/blockrep/checkpoint"
	"github.com/blockrep/blockrep/delta"
)

// reversePending is the synchronization a reverse relationship's first
// cycle owes: point is where this side started (the group's latest point
// when Reverse ran), ours what the failover changed since ours.Since.
type reversePending struct {
	point checkpoint.Point
	ours  changeMap
}

// errNeedsResync says the first reverse cycle must compare hashes.
var errNeedsResync = errors.New("replica: reverse replication needs a hash comparison")

func (r *Relationship) reversePending() *reversePending {
	r.roles.mu.Lock()
	defer r.roles.mu.Unlock()
	return r.roles.pending
}

func (r *Relationship) setReversePending(p *reversePending) {
	r.roles.mu.Lock()
	r.roles.pending = p
	r.roles.mu.Unlock()
}

// reverseCycleLocked runs the first cycle of a reverse relationship: it
// learns the old primary's side and sends what changed on either side, or
// resynchronizes by hash comparison when a side's changes are unknown or
// the result's content hash differs.
func (r *Relationship) reverseCycleLocked(ctx context.Context, pend *reversePending) (CycleResult, error) {
	res, err := r.reverseSync(ctx, pend)
	if errors.Is(err, errNeedsResync) {
		r.setReversePending(nil)
		r.log.Info("reverse replication falls back to hash comparison", "why", err)
		rr, err := r.resyncLocked(ctx)
		if err != nil {
			return CycleResult{}, err
		}
		return CycleResult{Point: rr.Point, Base: rr.Base, Time: rr.Time, Blocks: rr.Blocks, StreamBytes: rr.StreamBytes, Latency: rr.Latency, Hash: rr.Hash}, nil
	}
	r.finish(ctx, false, res, err)
	return res, err
}

// reverseSync is the first reverse cycle's transfer.
func (r *Relationship) reverseSync(ctx context.Context, pend *reversePending) (CycleResult, error) {
	var res CycleResult
	r.closeConn()
	st, err := r.connect(ctx)
	if err != nil {
		return res, err
	}
	if st.Exists && st.State == FailedOver {
		r.closeConn()
		return res, fmt.Errorf("%w: group %q is failed over on %s too", ErrSplitBrain, r.cfg.ID, r.cfg.Replica)
	}
	info, err := r.queryReverse(ctx, pend.point.ID)
	if err != nil {
		r.closeConn()
		return res, err
	}
	if int(info.BlockSize) != r.cfg.BlockSize || !slices.Equal(info.Volumes, r.infos) {
		r.closeConn()
		return res, fmt.Errorf("%w: group %q has other volumes or another block size on %s (remove it there and enable replication anew)", ErrNoCommonPoint, r.cfg.ID, r.cfg.Replica)
	}
	from := func(p delta.PointID) bool {
		return !p.IsZero() && (info.Changes.Since == p || info.Changes.Also == p)
	}
	atOurs, atBase := from(pend.point.ID), from(pend.ours.Since)
	if !atOurs && !atBase {
		r.closeConn()
		return res, fmt.Errorf("%w: group %q on %s was last at %s, this side started from %s on %s (remove the group there and enable replication anew)",
			ErrNoCommonPoint, r.cfg.ID, r.cfg.Replica, info.Changes.Since, pend.point.ID, pend.ours.Since)
	}
	if info.Changes.Kind != changesKnown || (!atOurs && pend.ours.Kind != changesKnown) {
		return res, fmt.Errorf("%w: a side's change map is unknown (theirs %d, ours %d)", errNeedsResync, info.Changes.Kind, pend.ours.Kind)
	}
	theirs, err := info.Changes.sets(r.geoms)
	if err != nil {
		r.closeConn()
		return res, err
	}
	var blocks []*delta.Set
	switch {
	case atOurs:
		// The other side had our point: its changes, and ours since (in
		// the tracker).
		blocks = theirs
		if info.Latest == pend.point.ID && allEmpty(theirs) {
			// It is at our point, unchanged (a planned failover): plain
			// cycles from here on.
			r.setReversePending(nil)
			r.log.Info("reverse replication continues from the promoted point", "point", pend.point.ID)
			res, err := r.transfer(ctx, false)
			return res, err
		}
	default:
		ours, err := pend.ours.sets(r.geoms)
		if err != nil {
			return res, fmt.Errorf("%w: %w", errNeedsResync, err)
		}
		for i := range ours {
			if err := ours[i].Union(theirs[i]); err != nil {
				return res, err
			}
		}
		blocks = ours
	}
	return r.sendChanged(ctx, info.Latest, blocks)
}

// allEmpty reports whether every set is empty.
func allEmpty(sets []*delta.Set) bool {
	for _, s := range sets {
		if !s.Empty() {
			return false
		}
	}
	return true
}

// queryReverse asks the old primary's ReplicaHost for its side.
func (r *Relationship) queryReverse(ctx context.Context, point delta.PointID) (reverseInfoMsg, error) {
	if err := sendMsg(ctx, r.conn, reverseQueryMsg{Group: r.cfg.ID, Point: point}); err != nil {
		return reverseInfoMsg{}, fmt.Errorf("replica: reverse query: %w", err)
	}
	info, buf, err := expectReply[reverseInfoMsg](ctx, r.conn, r.buf)
	r.buf = buf
	var remote *RemoteError
	if errors.As(err, &remote) && (remote.Code == CodeStateConflict || remote.Code == CodeUnknownGroup) {
		return reverseInfoMsg{}, fmt.Errorf("replica: reverse query of %q: %w: %w", r.cfg.ID, ErrAwaitingDemote, err)
	}
	if err != nil {
		return reverseInfoMsg{}, fmt.Errorf("replica: reverse query of %q: %w", r.cfg.ID, err)
	}
	if info.Group != r.cfg.ID {
		return reverseInfoMsg{}, fmt.Errorf("%w: reverse info of group %q, want %q", ErrProtocol, info.Group, r.cfg.ID)
	}
	return info, nil
}

// sendChanged marks blocks dirty and sends, whole and on base, every block
// the tracker then holds (those and the ones written here since Reverse),
// as of one freeze; the replica's content hash of the result must be the
// one of this side's image at the freeze, which a hash pass before the
// freeze and the blocks read for the delta give (as a resynchronization
// computes it). A difference restores the blocks and asks for a hash
// comparison.
func (r *Relationship) sendChanged(ctx context.Context, base delta.PointID, blocks []*delta.Set) (CycleResult, error) {
	var res CycleResult
	start := r.clock.Now()
	lists := make([]*delta.HashList, len(r.included))
	for ti, ci := range r.included {
		l, err := delta.HashVolume(ctx, r.cfg.Volumes[ci].Volume, r.geoms[ti])
		if err != nil {
			return res, fmt.Errorf("replica: hash volume %s: %w", r.infos[ti].ID, err)
		}
		lists[ti] = l
	}
	for ti, s := range blocks {
		if err := r.markSet(ti, s); err != nil {
			return res, err
		}
	}
	frozen, err := r.tracker.Freeze(ctx)
	if err != nil {
		return res, fmt.Errorf("replica: freeze: %w", err)
	}
	src := newResyncSource(frozen, lists)
	out := outDelta{what: "reverse delta", src: src, base: base, at: frozen.Time(), cons: delta.ConsistencyCrash}
	if p := r.cfg.Initial.Progress; p != nil {
		out.opts = append(out.opts, delta.WithProgress(p))
	}
	ack, sent, err := r.sendDelta(ctx, out)
	if err != nil {
		if rerr := frozen.Restore(); rerr != nil {
			err = errors.Join(err, fmt.Errorf("replica: restore frozen blocks: %w", rerr))
		}
		r.closeConn()
		return res, err
	}
	r.mu.Lock()
	r.lastPoint, r.lastTime, r.lastHash, r.inDoubt = ack.Point, frozen.Time(), ack.Hash, delta.PointID{}
	r.mu.Unlock()
	want, err := src.groupRoot()
	if err == nil && want != ack.Hash {
		err = fmt.Errorf("%w: %w: replica %s, this side %s", errNeedsResync, ErrResyncMismatch, ack.Hash, want)
	}
	if err != nil {
		frozen.Restore()
		return res, err
	}
	if err := frozen.Commit(ctx); err != nil {
		r.log.Warn("commit of reversed blocks failed; they will be sent again", "err", err)
		frozen.Restore()
	}
	r.setReversePending(nil)
	now := r.clock.Now()
	res = CycleResult{
		Point:       ack.Point,
		Base:        base,
		Time:        frozen.Time(),
		Blocks:      frozen.Dirty().Blocks,
		StreamBytes: sent.StreamBytes,
		Latency:     now.Sub(start),
		Hash:        ack.Hash,
	}
	r.log.Info("reverse replication synchronized", "point", ack.Point, "base", base, "blocks", res.Blocks, "bytes", res.StreamBytes)
	return res, nil
}
