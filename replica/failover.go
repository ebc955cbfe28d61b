package replica

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/blockrep/blockrep/checkpoint"
	"github.com/blockrep/blockrep/delta"
)

// failoverClone names the clone that holds an unplanned failover's image.
const failoverClone = "failover"

// Failover is an unplanned failover in progress on a replica host: the
// group is FailedOverWaitingCompletion, and its volumes are a writable
// image of the chosen recovery point. Writes go to a copy-on-write overlay,
// so the chain stays exactly as it was until CompleteFailover commits the
// image or CancelFailover throws it away.
type Failover struct {
	im *failoverImage
}

// Group returns the group id.
func (f *Failover) Group() string { return f.im.group }

// Point returns the recovery point the failover started from.
func (f *Failover) Point() checkpoint.Point { return f.im.point }

// Volumes returns one writable volume per group volume, in group order:
// the point's content with the writes made since. They return
// ErrFailoverEnded after CompleteFailover or CancelFailover.
func (f *Failover) Volumes() []checkpoint.VolumeReadWriter { return f.im.vols }

// Metadata returns a copy of the metadata blob the primary stored with
// the group (the VM's configuration).
func (f *Failover) Metadata() []byte { return append([]byte(nil), f.im.meta...) }

// FailoverSettings returns a copy of the failover settings the primary
// stored with the group (the address to use after failover, say).
func (f *Failover) FailoverSettings() []byte { return append([]byte(nil), f.im.settings...) }

// Failover starts an unplanned failover of group to the point sel selects:
// the group becomes FailedOverWaitingCompletion, refuses deltas from its
// primary (a Nack with CodeStateConflict), and the returned Failover's
// volumes are a writable image of the point. A delta being applied when
// Failover is called is finished first. The failover ends with
// CompleteFailover or CancelFailover.
//
// Errors: ErrUnknownGroup; a *StateError unless the group is Replicating
// (a test failover must be stopped first); ErrNoRecoveryPoint; ErrClosed;
// the store's errors. On error the group is as it was.
func (h *ReplicaHost) Failover(ctx context.Context, group string, sel PointSelector) (*Failover, error) {
	g, err := h.openGroup(ctx, group)
	if err != nil {
		return nil, err
	}
	h.mu.Lock()
	from := h.stateLocked(group)
	if err := h.setStateLocked("failover", group, FailedOverWaitingCompletion); err != nil {
		h.mu.Unlock()
		return nil, err
	}
	idle := h.idleLocked(group)
	h.mu.Unlock()

	f, err := h.startFailover(ctx, g, sel, idle)
	h.mu.Lock()
	defer h.mu.Unlock()
	if err != nil {
		h.forceStateLocked(group, from)
		return nil, err
	}
	if h.fo.failovers == nil {
		h.fo.failovers = make(map[string]*Failover)
	}
	h.fo.failovers[group] = f
	h.log.Info("failed over", "group", group, "point", f.im.point.ID, "selector", sel)
	return f, nil
}

// startFailover waits for the apply in flight (idle), then clones the
// selected point.
func (h *ReplicaHost) startFailover(ctx context.Context, g checkpoint.Group, sel PointSelector, idle <-chan struct{}) (*Failover, error) {
	if idle != nil {
		select {
		case <-idle:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	c, err := h.cloneSelected(ctx, g, sel, failoverClone)
	if err != nil {
		return nil, err
	}
	return &Failover{im: newFailoverImage(g.ID(), c, g.Spec())}, nil
}

// takeFailover claims the failover of group for op, moving to state to;
// h.mu is not held. The caller ends the claim with releaseFailover.
func (h *ReplicaHost) takeFailover(op, group string, to State) (*Failover, error) {
	if h.isClosed() {
		return nil, ErrClosed
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	from := h.stateLocked(group)
	f := h.fo.failovers[group]
	if f == nil || !CanTransition(RoleReplica, from, to) {
		return nil, &StateError{Op: op, From: from, To: to}
	}
	delete(h.fo.failovers, group) // a concurrent Complete or Cancel finds none
	return f, nil
}

// CancelFailover ends the failover of group without keeping anything:
// the writes made to its volumes are discarded, the point is unpinned, and
// the group is Replicating again with its chain exactly as before, so the
// primary's next delta applies. It returns a *StateError unless the group
// is FailedOverWaitingCompletion.
func (h *ReplicaHost) CancelFailover(ctx context.Context, group string) error {
	if err := h.restoreGroupByID(ctx, group); err != nil { // restore.go
		return err
	}
	f, err := h.takeFailover("cancel failover", group, Replicating)
	if err != nil {
		return err
	}
	f.im.seal()
	derr := f.im.clone.Discard(ctx)
	h.mu.Lock()
	h.setStateLocked("cancel failover", group, Replicating)
	h.mu.Unlock()
	if derr != nil {
		// The chain is untouched; the overlay left on disk is discarded by
		// the group's next failover.
		return fmt.Errorf("replica: cancel failover of %q: discard its image: %w", group, derr)
	}
	h.log.Info("failover cancelled", "group", group)
	return nil
}

// CompleteFailover commits the failover of group: the image of its
// volumes — the chosen point with the writes made since — becomes the
// group's one recovery point, every other point is dropped (a point
// still pinned — by a test failover, or as an extended replica's base —
// goes as soon as its pin does; retention never keeps it again), and the
// group is FailedOver. The failover's volumes stop working; the committed image
// is the group's latest point (checkpoint Group.OpenPoint or Export read
// it).
//
// The commit is one crash-safe apply of the store: a delta from the latest
// point to the image (the blocks changed since the chosen point, and the
// blocks written during the failover), so a crash leaves either the chain
// as before or the new point; the new point's Base is the old latest point
// and its block set says which blocks differ from it. A crash after that
// apply but before the other points are dropped leaves them in the chain
// until the replica host's restart finishes the completion (restore.go).
//
// It returns a *StateError unless the group is FailedOverWaitingCompletion.
// When the apply fails (a full disk), the failover goes on as before and
// CompleteFailover or CancelFailover may be called again.
func (h *ReplicaHost) CompleteFailover(ctx context.Context, group string) error {
	if err := h.restoreGroupByID(ctx, group); err != nil { // restore.go
		return err
	}
	f, err := h.takeFailover("complete failover", group, FailedOver)
	if err != nil {
		return err
	}
	g, err := h.openGroup(ctx, group)
	var prev checkpoint.Point // the latest point before the commit
	if err == nil {
		prev, err = g.Latest(ctx)
	}
	if err == nil {
		f.im.seal()
		err = h.commitImage(ctx, g, f.im)
		if err != nil {
			f.im.unseal()
		}
	}
	h.mu.Lock()
	if err != nil {
		h.fo.failovers[group] = f
		h.mu.Unlock()
		return err
	}
	h.setStateLocked("complete failover", group, FailedOver)
	h.mu.Unlock()
	h.log.Info("failover completed", "group", group, "point", f.im.point.ID)

	// The image is committed; what follows records the role (reverse_state.go)
	// and tidies the chain.
	var errs []error
	if err := h.recordCompletedFailover(ctx, g, prev.ID); err != nil {
		errs = append(errs, err)
	}
	if err := f.im.clone.Discard(ctx); err != nil {
		errs = append(errs, fmt.Errorf("discard the image: %w", err))
	} else if err := unpinCommits(ctx, g); err != nil {
		errs = append(errs, fmt.Errorf("release the commit pin: %w", err))
	} else if err := dropOlderPoints(ctx, g); err != nil {
		errs = append(errs, fmt.Errorf("drop the other points: %w", err))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("replica: complete failover of %q (committed): %w", group, err)
	}
	return nil
}

// dropOlderPoints drops every point older than the latest (the completed
// failover's), in one durable step that outlives the pins still holding
// some of them: a test failover's, or an extended replica's base, go as
// soon as their holder lets go (checkpoint.Group.DropBefore).
func dropOlderPoints(ctx context.Context, g checkpoint.Group) error {
	latest, err := g.Latest(ctx)
	if err != nil {
		return err
	}
	return g.DropBefore(ctx, latest.ID)
}

// commitImage applies to g, as its new latest point, a delta that turns
// the latest point into im's image.
func (h *ReplicaHost) commitImage(ctx context.Context, g checkpoint.Group, im *failoverImage) error {
	latest, err := g.Latest(ctx)
	if err != nil {
		return err
	}
	blocks, err := g.ChangedBlocks(ctx, im.point.ID, latest.ID)
	if err != nil {
		return err
	}
	written := im.writtenBlocks()
	wrote, changed := false, false
	for v, s := range written {
		wrote = wrote || !s.Empty()
		if err := blocks[v].Union(s); err != nil {
			return err
		}
		changed = changed || !blocks[v].Empty()
	}
	if !changed {
		return nil // the image is the latest point, unchanged
	}
	id, err := delta.NewPointID(nil)
	if err != nil {
		return err
	}
	cons := im.point.Consistency
	if wrote {
		cons = delta.ConsistencyCrash
	}
	spec := g.Spec()
	if spec.BlockSize == 0 {
		spec.BlockSize = delta.DefaultBlockSize
	}
	hdr := delta.Header{
		Group:       g.ID(),
		Base:        latest.ID,
		New:         id,
		Time:        h.cfg.Clock.Now(),
		Consistency: cons,
		BlockSize:   spec.BlockSize,
		Volumes:     spec.Volumes,
	}
	readers := make([]io.ReaderAt, len(im.vols))
	for i := range im.vols {
		readers[i] = im.clone.Volumes()[i]
	}
	src, err := delta.NewSource(readers, spec.Geometries(), blocks)
	if err != nil {
		return err
	}
	// A durable note of the point the commit makes, for a restart that
	// finds the failover clone beside it; it holds the latest point, so
	// that such a restart can roll the commit back (restore.go).
	if err := g.Pin(ctx, latest.ID, commitHolder(id)); err != nil {
		return err
	}
	if err := applySource(ctx, g, hdr, src); err != nil {
		if uerr := g.Unpin(ctx, latest.ID, commitHolder(id)); uerr != nil {
			h.log.Warn("commit pin left until the next restart", "group", g.ID(), "err", uerr)
		}
		return err
	}
	return nil
}
