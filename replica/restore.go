package replica

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"

	"github.com/blockrep/blockrep/checkpoint"
	"github.com/blockrep/blockrep/delta"
)

// restoreTable remembers which groups a ReplicaHost has restored from its
// store since it started: a failover or a test failover an earlier process
// left (its clone on disk) becomes this host's again on the group's first
// access, before anything else touches the group.
type restoreTable struct {
	mu   sync.Mutex // held while a group is restored: serialises first accesses
	done map[string]bool
}

// commitHolderPrefix names the pin CompleteFailover takes on the latest
// point before it applies the image, holder "failover-commit:<new point>":
// a durable note of the point the commit makes, so that a restart can tell
// a commit that landed from a point the primary sent, and roll it back to
// the point it held.
const commitHolderPrefix = "failover-commit:"

func commitHolder(id delta.PointID) string { return commitHolderPrefix + id.String() }

// Recover restores, for every group of every store, the failover or test
// failover an earlier process on the same stores left running: a group
// whose failover clone is on disk is FailedOverWaitingCompletion again
// (ActiveFailover returns it), one whose test failover clone is on disk is
// TestFailoverRunning (ActiveTestFailover). Every other call that names a
// group restores that group first on its own, so Recover is only needed
// before ActiveFailover, ActiveTestFailover or a state listing right after
// a restart. It tries every group and returns the errors joined; a group it
// could not restore stays unusable (its calls return the error) rather than
// replicated over.
func (h *ReplicaHost) Recover(ctx context.Context) error {
	ids, err := h.Groups(ctx)
	if err != nil {
		return err
	}
	var errs []error
	for _, id := range ids {
		if err := ctx.Err(); err != nil {
			return err
		}
		if _, err := h.openGroup(ctx, id); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// ActiveFailover returns the unplanned failover of group in progress,
// started by this host or by an earlier process on the same store (see
// Recover). It returns a *StateError unless the group is
// FailedOverWaitingCompletion, ErrClosed after Close.
func (h *ReplicaHost) ActiveFailover(group string) (*Failover, error) {
	if h.isClosed() {
		return nil, ErrClosed
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if f := h.fo.failovers[group]; f != nil {
		return f, nil
	}
	return nil, &StateError{Op: "active failover", From: h.stateLocked(group), To: StateNone}
}

// ActiveTestFailover returns the test failover of group running, started
// by this host or by an earlier process on the same store (see Recover).
// It returns a *StateError unless one is running, ErrClosed after Close.
func (h *ReplicaHost) ActiveTestFailover(group string) (*TestFailover, error) {
	if h.isClosed() {
		return nil, ErrClosed
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if t := h.fo.tests[group]; t != nil {
		return t, nil
	}
	return nil, &StateError{Op: "active test failover", From: h.stateLocked(group), To: StateNone}
}

// Sync makes every write made to the failover's volumes so far durable: a
// replica host that restarts finds the failover with them (see Recover).
// Writes after the last Sync may or may not survive a crash. It returns
// ErrFailoverEnded once the failover was completed or cancelled.
func (f *Failover) Sync() error { return f.im.sync() }

// Sync makes every write made to the test failover's volumes so far
// durable, as Failover.Sync does. It returns ErrFailoverEnded after
// StopTestFailover.
func (t *TestFailover) Sync() error { return t.im.sync() }

func (im *failoverImage) sync() error {
	im.io.RLock()
	defer im.io.RUnlock()
	if im.sealed {
		return ErrFailoverEnded
	}
	return im.clone.Sync()
}

// restoreGroupByID restores group id if it exists; an unknown group is not
// an error (the operation that follows says what is wrong).
func (h *ReplicaHost) restoreGroupByID(ctx context.Context, id string) error {
	if _, err := h.openGroup(ctx, id); err != nil && !errors.Is(err, ErrUnknownGroup) {
		return err
	}
	return nil
}

// restoreGroup brings back, once per host, what an earlier process left of
// g's failover or test failover. Until it succeeds the group's calls fail
// with its error: a primary's delta never lands on a group failed over.
func (h *ReplicaHost) restoreGroup(ctx context.Context, g checkpoint.Group) error {
	id := g.ID()
	r := &h.restore
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.done[id] {
		return nil
	}
	if err := h.restoreClones(ctx, g); err != nil {
		return fmt.Errorf("replica: restore group %q: %w", id, err)
	}
	if r.done == nil {
		r.done = make(map[string]bool)
	}
	r.done[id] = true
	return nil
}

func (h *ReplicaHost) restoreClones(ctx context.Context, g checkpoint.Group) error {
	id := g.ID()
	h.mu.Lock()
	busy := h.fo.failovers[id] != nil || h.fo.tests[id] != nil
	h.mu.Unlock()
	if busy {
		return nil // started by this process
	}
	if err := h.settleCommit(ctx, g); err != nil {
		return err
	}
	names, err := g.Clones(ctx)
	if err != nil {
		return err
	}
	if err := releaseOrphanPins(ctx, g, names); err != nil {
		return err
	}
	if slices.Contains(names, failoverClone) && recordFailedOver(g.Spec().Meta) {
		h.log.Info("finishing a completed failover a restart interrupted", "group", id)
		if err := g.DiscardClone(ctx, failoverClone); err != nil {
			return err
		}
		if err := dropOlderPoints(ctx, g); err != nil {
			return err
		}
		names = slices.DeleteFunc(names, func(n string) bool { return n == failoverClone })
	}
	var failover, test checkpoint.Clone
	for _, name := range names {
		if name != failoverClone && name != testFailoverClone {
			continue
		}
		c, err := g.OpenClone(ctx, name)
		if errors.Is(err, checkpoint.ErrUnknownClone) {
			// What an interrupted start or end left: nothing was handed
			// out, or it was already ended.
			h.log.Warn("discarding an incomplete failover image", "group", id, "clone", name, "err", err)
			if err := g.DiscardClone(ctx, name); err != nil {
				return err
			}
			continue
		}
		if err != nil {
			return err
		}
		if name == failoverClone {
			failover = c
		} else {
			test = c
		}
	}
	if failover != nil && test != nil {
		// A failover needs the test failover stopped first; both on disk
		// means the stop's discard failed. The failover wins.
		h.log.Warn("discarding a test failover left beside a failover", "group", id)
		if err := test.Discard(ctx); err != nil {
			return err
		}
		test = nil
	}
	spec := g.Spec()
	h.mu.Lock()
	defer h.mu.Unlock()
	switch {
	case failover != nil:
		im := restoredImage(id, failover, spec)
		if h.fo.failovers == nil {
			h.fo.failovers = make(map[string]*Failover)
		}
		h.fo.failovers[id] = &Failover{im: im}
		h.forceStateLocked(id, FailedOverWaitingCompletion)
		h.log.Info("failover restored", "group", id, "point", im.point.ID, "state", FailedOverWaitingCompletion)
	case test != nil:
		im := restoredImage(id, test, spec)
		if h.fo.tests == nil {
			h.fo.tests = make(map[string]*TestFailover)
		}
		h.fo.tests[id] = &TestFailover{im: im}
		h.forceStateLocked(id, TestFailoverRunning)
		h.log.Info("test failover restored", "group", id, "point", im.point.ID, "state", TestFailoverRunning)
	}
	return nil
}

// restoredImage wraps a reopened clone: the blocks its last Sync recorded
// are the image's written blocks.
func restoredImage(group string, c checkpoint.Clone, spec checkpoint.GroupSpec) *failoverImage {
	im := newFailoverImage(group, c, spec)
	for v, s := range c.WrittenBlocks() {
		if v < len(im.written) && s.Len() == im.written[v].Len() {
			im.written[v] = s
		}
	}
	return im
}

// settleCommit finishes or undoes a CompleteFailover a crash interrupted,
// found by its commit pin. When the commit's point is not in the chain,
// the apply did not land: the pin goes and the failover waits as before.
// When it is and the failover clone is still there, CompleteFailover had
// not finished: the point is rolled back to the latest point before it,
// which the pin held, so the group is FailedOverWaitingCompletion with its
// chain as before (less a point retention pruned when the commit
// landed) — unless the group
// record already says the completion committed, which the tidy-up then
// finishes. Without the clone, the completion had finished but for the
// pin and the pruning.
func (h *ReplicaHost) settleCommit(ctx context.Context, g checkpoint.Group) error {
	pins, err := g.Pins(ctx)
	if err != nil {
		return err
	}
	for _, p := range pins {
		name, ok := strings.CutPrefix(p.Holder, commitHolderPrefix)
		if !ok {
			continue
		}
		made, err := delta.ParsePointID(name)
		if err != nil {
			return fmt.Errorf("pin holder %q: %w", p.Holder, err)
		}
		if err := h.settleOne(ctx, g, p, made); err != nil {
			return err
		}
	}
	return nil
}

func (h *ReplicaHost) settleOne(ctx context.Context, g checkpoint.Group, pin checkpoint.Pin, made delta.PointID) error {
	id := g.ID()
	pts, err := g.Points(ctx)
	if err != nil {
		return err
	}
	n := len(pts)
	if n == 0 || pts[n-1].ID != made {
		return g.Unpin(ctx, pin.Point, pin.Holder) // the commit did not land
	}
	names, err := g.Clones(ctx)
	if err != nil {
		return err
	}
	cloned := false
	for _, c := range names {
		cloned = cloned || c == failoverClone
	}
	if cloned && !recordCompleted(g.Spec().Meta, made) {
		h.log.Warn("rolling back a failover commit a restart interrupted", "group", id, "point", made, "to", pin.Point)
		if err := g.Rollback(ctx, pin.Point); err != nil {
			return err
		}
		return g.Unpin(ctx, pin.Point, pin.Holder)
	}
	h.log.Info("finishing a completed failover a restart interrupted", "group", id, "point", made, "from", pin.Point)
	if cloned {
		if err := g.DiscardClone(ctx, failoverClone); err != nil {
			return err
		}
	}
	if err := g.Unpin(ctx, pin.Point, pin.Holder); err != nil {
		return err
	}
	return dropOlderPoints(ctx, g)
}

// unpinCommits releases the commit pins of g (CompleteFailover's, once its
// image is committed and its clone discarded).
func unpinCommits(ctx context.Context, g checkpoint.Group) error {
	pins, err := g.Pins(ctx)
	if err != nil {
		return err
	}
	for _, p := range pins {
		if strings.HasPrefix(p.Holder, commitHolderPrefix) {
			if err := g.Unpin(ctx, p.Point, p.Holder); err != nil {
				return err
			}
		}
	}
	return nil
}

// releaseOrphanPins discards what a Discard interrupted after the clone's
// files were gone left: the pin of a failover or test failover clone that
// is not on disk any more (names lists those that are).
func releaseOrphanPins(ctx context.Context, g checkpoint.Group, names []string) error {
	pins, err := g.Pins(ctx)
	if err != nil {
		return err
	}
	for _, name := range []string{failoverClone, testFailoverClone} {
		held := slices.ContainsFunc(pins, func(p checkpoint.Pin) bool { return p.Holder == "clone:"+name })
		if held && !slices.Contains(names, name) {
			if err := g.DiscardClone(ctx, name); err != nil {
				return err
			}
		}
	}
	return nil
}
