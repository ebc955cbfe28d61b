package replica

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/blockrep/blockrep/checkpoint"
	"github.com/blockrep/blockrep/delta"
)

// pinAttempts bounds how often a forward re-reads the latest point when
// retention pruned the one it was about to pin (a delta landed meanwhile).
const pinAttempts = 5

// forward sends the group's latest point P to the extended replica:
//
//  1. when P is the point the extended replica acknowledged last, to this
//     process, nothing is sent, nothing dialed (a pin alone does not say
//     so: a forward that failed leaves its point pinned);
//  2. dial and read the extended replica's status: its latest point L is
//     the base (zero: the initial copy, after creating the group there);
//     L is in this replica's chain — the extension pinned it when it was
//     acknowledged, so retention kept it;
//  3. pin P, open its view, and send as a delta from L to P, under P's own
//     id, instant and consistency, the blocks that changed between them
//     (every block for the initial copy); when L is not in this replica's
//     chain (the extended replica was rolled back, or made by other
//     means), the blocks that differ are found by comparing hash trees;
//  4. on the acknowledgement, whose content hash must be P's, unpin every
//     point of the extension but P. When the hash differs (ErrForwardMismatch),
//     the next forward does not trust the extended replica's point and
//     compares hash trees as in step 3.
//
// A failure leaves L and P pinned and the extended replica at L (or at P,
// if only the acknowledgement was lost: the next status says so, and the
// next forward releases the pin the extended replica does not need).
//
// A point whose forward is in doubt — its whole stream went out and no
// verdict came back, or the host restarted with it pinned — stays pinned
// until the extended replica's status shows it at that point or at a newer
// one, or acknowledges a later delta: it may still be committing the point
// (an apply outlives the connection that brought it), and its next delta
// is then based on it (invariant 7). A point a failed forward did not
// deliver (cut before the stream ended, or refused) is released by the
// next forward.
func (e *extension) forward(ctx context.Context) (ForwardResult, error) {
	g, err := e.h.openGroup(ctx, e.group)
	if err != nil {
		return ForwardResult{}, err
	}
	latest, err := g.Latest(ctx)
	if errors.Is(err, checkpoint.ErrNoPoint) {
		return ForwardResult{}, nil // nothing to forward yet
	}
	if err != nil {
		return ForwardResult{}, err
	}
	e.mu.Lock()
	done, suspect := e.confirmed && e.last == latest.ID, e.suspect
	e.mu.Unlock()
	if done {
		return ForwardResult{Point: latest.ID, Base: latest.ID, Time: latest.Time}, nil
	}

	c, st, err := e.dial(ctx)
	if err != nil {
		return ForwardResult{}, err
	}
	defer c.close()
	base, known, err := e.base(ctx, g, st)
	if err != nil {
		return ForwardResult{}, err
	}
	if suspect && known && !base.IsZero() {
		// The extended replica's point has our id but acknowledged other
		// content: compare hashes instead of trusting the id.
		if base == latest.ID {
			return ForwardResult{}, fmt.Errorf("%w: point %s of %q differs on %s; it is resynchronized with the next point", ErrForwardMismatch, base, e.group, e.cfg.Replica)
		}
		known = false
	}
	if base == latest.ID {
		// The extended replica committed P; its acknowledgement was lost.
		e.log.Info("extended replica has the latest point already", "point", base)
		return ForwardResult{Point: latest.ID, Base: base, Time: latest.Time, Replayed: true}, e.unpinOthers(ctx, g, latest.ID)
	}
	// A point pinned by a forward that did not deliver it is not on the
	// extended replica: the base and the points in doubt stay held, so
	// failures do not pile up pins.
	held, err := e.unpinStale(ctx, g, base, known)
	if err != nil {
		return ForwardResult{}, err
	}
	p, err := e.pinLatest(ctx, g)
	if err != nil {
		return ForwardResult{}, err
	}
	if p.ID == base {
		return ForwardResult{Point: p.ID, Base: base, Time: p.Time, Replayed: true}, e.unpinOthers(ctx, g, p.ID)
	}
	// undelivered marks p for release by the next forward, unless an
	// earlier forward left it in doubt.
	undelivered := func() {
		if !held[p.ID] {
			if e.unsent == nil {
				e.unsent = make(map[delta.PointID]bool)
			}
			e.unsent[p.ID] = true
		}
	}
	if !st.Exists {
		if err := c.createGroup(ctx, g.Spec(), e.cfg.Retention); err != nil {
			undelivered()
			return ForwardResult{}, err
		}
	}
	if !known {
		e.log.Warn("extended replica is at a point this replica does not have: resynchronizing by hash comparison", "point", base)
	}
	res, err := e.send(ctx, g, c, base, !known, p)
	if err != nil {
		var remote *RemoteError
		if !c.streamed || errors.As(err, &remote) {
			undelivered()
		} else {
			e.log.Warn("forward in doubt: its point stays pinned until the extended replica's status shows what it has", "point", p.ID, "err", err)
		}
		return ForwardResult{}, err
	}
	if err := e.unpinOthers(ctx, g, p.ID); err != nil {
		// The point is forwarded; the stale pin goes with the next forward.
		e.log.Warn("unpin of the previous point failed", "err", err)
	}
	return res, nil
}

// base decides the delta's base from the extended replica's status: its
// latest point, and whether this replica's chain has it.
func (e *extension) base(ctx context.Context, g checkpoint.Group, st statusMsg) (delta.PointID, bool, error) {
	if err := failedOver(&st); err != nil {
		return delta.PointID{}, false, err
	}
	if !st.Exists || st.Latest.IsZero() {
		return delta.PointID{}, true, nil
	}
	pts, err := g.Points(ctx)
	if err != nil {
		return delta.PointID{}, false, err
	}
	for _, p := range pts {
		if p.ID == st.Latest {
			// Pinned already, unless an earlier extension to this replica
			// was stopped: the pin holds it from here on.
			if err := g.Pin(ctx, p.ID, e.holder); err != nil {
				return delta.PointID{}, false, err
			}
			return p.ID, true, nil
		}
	}
	return st.Latest, false, nil
}

// pinLatest pins the group's latest point for e and returns it.
func (e *extension) pinLatest(ctx context.Context, g checkpoint.Group) (checkpoint.Point, error) {
	for range pinAttempts {
		p, err := g.Latest(ctx)
		if err != nil {
			return p, err
		}
		err = g.Pin(ctx, p.ID, e.holder)
		if err == nil {
			return p, nil
		}
		if !errors.Is(err, checkpoint.ErrUnknownPoint) {
			return p, err
		}
	}
	return checkpoint.Point{}, fmt.Errorf("replica: forward of %q: the latest point was pruned %d times before it could be pinned", e.group, pinAttempts)
}

// unpinStale releases, for a forward from base, e's pins of the points
// the extended replica cannot need: those older than base, those a failed
// forward did not deliver, and, when base is not in this replica's chain
// (known false), every one but base. It returns the points still pinned
// but base: the ones in doubt.
func (e *extension) unpinStale(ctx context.Context, g checkpoint.Group, base delta.PointID, known bool) (map[delta.PointID]bool, error) {
	pins, err := e.pinned(ctx, g) // in chain order
	if err != nil {
		return nil, err
	}
	held := make(map[delta.PointID]bool)
	newer := base.IsZero()
	var errs []error
	for _, p := range pins {
		switch {
		case p.Point == base:
			newer = true
			delete(e.unsent, p.Point)
			continue
		case newer && known && !e.unsent[p.Point]:
			held[p.Point] = true
			continue
		}
		if err := g.Unpin(ctx, p.Point, e.holder); err != nil {
			errs = append(errs, err)
			continue
		}
		delete(e.unsent, p.Point)
	}
	return held, errors.Join(errs...)
}

// unpinOthers releases e's pins of every point but keep.
func (e *extension) unpinOthers(ctx context.Context, g checkpoint.Group, keep delta.PointID) error {
	pins, err := e.pinned(ctx, g)
	if err != nil {
		return err
	}
	var errs []error
	for _, p := range pins {
		if p.Point != keep {
			if err := g.Unpin(ctx, p.Point, e.holder); err != nil {
				errs = append(errs, err)
				continue
			}
			delete(e.unsent, p.Point)
		}
	}
	return errors.Join(errs...)
}

// send streams the blocks changed from base to p, read from p's view;
// resync says base is not in this replica's chain, so the blocks that
// differ are found by hash comparison.
func (e *extension) send(ctx context.Context, g checkpoint.Group, c *forwardConn, base delta.PointID, resync bool, p checkpoint.Point) (ForwardResult, error) {
	view, err := g.OpenPoint(ctx, p.ID)
	if err != nil {
		return ForwardResult{}, err
	}
	defer view.Close()
	spec := g.Spec()
	if spec.BlockSize == 0 {
		spec.BlockSize = delta.DefaultBlockSize
	}
	var blocks []*delta.Set
	var hashBytes int64
	coalesced := 1
	if resync {
		blocks, hashBytes, err = c.resyncBlocks(ctx, base, view, spec.Geometries())
	} else {
		blocks, err = g.ChangedBlocks(ctx, base, p.ID)
		if err == nil {
			coalesced, err = pointsBetween(ctx, g, base, p.ID)
		}
	}
	if err != nil {
		return ForwardResult{}, err
	}
	readers := make([]io.ReaderAt, len(view.Volumes()))
	var n int64
	for i, v := range view.Volumes() {
		readers[i] = v
		n += blocks[i].Count()
	}
	src, err := delta.NewSource(readers, spec.Geometries(), blocks)
	if err != nil {
		return ForwardResult{}, err
	}
	hdr := delta.Header{
		Group:       e.group,
		Base:        base,
		New:         p.ID,
		Time:        p.Time,
		Consistency: p.Consistency,
		BlockSize:   spec.BlockSize,
		Volumes:     spec.Volumes,
	}
	var opts []delta.EncoderOption
	if base.IsZero() && e.cfg.Progress != nil {
		opts = append(opts, delta.WithProgress(e.cfg.Progress))
	}
	ack, est, err := c.sendDelta(ctx, hdr, src, opts)
	if err != nil {
		return ForwardResult{}, err
	}
	if ack.Hash != p.Hash {
		return ForwardResult{}, fmt.Errorf("%w: point %s of %q: extended replica %s hashes %x, this replica %x", ErrForwardMismatch, p.ID, e.group, e.cfg.Replica, ack.Hash[:8], p.Hash[:8])
	}
	return ForwardResult{
		Point:       p.ID,
		Base:        base,
		Time:        p.Time,
		Points:      coalesced,
		Blocks:      n,
		StreamBytes: est.StreamBytes,
		Replayed:    ack.Replayed,
		Resync:      resync,
		HashBytes:   hashBytes,
	}, nil
}

// pointsBetween counts the points of g's chain after from up to to.
func pointsBetween(ctx context.Context, g checkpoint.Group, from, to delta.PointID) (int, error) {
	pts, err := g.Points(ctx)
	if err != nil {
		return 0, err
	}
	n, counting := 0, from.IsZero()
	for _, p := range pts {
		if counting {
			n++
		}
		if p.ID == from {
			counting = true
		}
		if p.ID == to {
			break
		}
	}
	return n, nil
}
