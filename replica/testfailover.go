package replica

import (
	"context"
	"fmt"

	"github.com/blockrep/blockrep/checkpoint"
)

// testFailoverClone names the clone that holds a test failover's image.
const testFailoverClone = "testfailover"

// TestFailover is a test failover running on a replica host: a writable,
// throw-away image of one recovery point, used (say, booted in an isolated
// network) while replication goes on. The point is pinned, so retention
// keeps it however many cycles arrive; no write to the image reaches any
// point. StopTestFailover discards it.
type TestFailover struct {
	im *failoverImage
}

// Group returns the group id.
func (t *TestFailover) Group() string { return t.im.group }

// Point returns the recovery point the test failover shows.
func (t *TestFailover) Point() checkpoint.Point { return t.im.point }

// Volumes returns one writable volume per group volume, in group order.
// They return ErrFailoverEnded after StopTestFailover.
func (t *TestFailover) Volumes() []checkpoint.VolumeReadWriter { return t.im.vols }

// Metadata returns a copy of the group's metadata blob.
func (t *TestFailover) Metadata() []byte { return append([]byte(nil), t.im.meta...) }

// FailoverSettings returns a copy of the group's failover settings.
func (t *TestFailover) FailoverSettings() []byte { return append([]byte(nil), t.im.settings...) }

// StartTestFailover starts a test failover of group on the point sel
// selects: the group is TestFailoverRunning, still applies its primary's
// deltas, and the returned TestFailover's volumes are a writable clone of
// the point, pinned until StopTestFailover.
//
// Errors: ErrUnknownGroup; ErrTestFailoverRunning when the group has one
// running; a *StateError unless the group is Replicating;
// ErrNoRecoveryPoint; ErrClosed; the store's errors. On error the group is
// as it was.
func (h *ReplicaHost) StartTestFailover(ctx context.Context, group string, sel PointSelector) (*TestFailover, error) {
	g, err := h.openGroup(ctx, group)
	if err != nil {
		return nil, err
	}
	h.mu.Lock()
	if _, ok := h.fo.tests[group]; ok {
		h.mu.Unlock()
		return nil, fmt.Errorf("%w: group %q", ErrTestFailoverRunning, group)
	}
	if err := h.setStateLocked("start test failover", group, TestFailoverRunning); err != nil {
		h.mu.Unlock()
		return nil, err
	}
	if h.fo.tests == nil {
		h.fo.tests = make(map[string]*TestFailover)
	}
	h.fo.tests[group] = nil // reserved while the clone is made
	h.mu.Unlock()

	t, err := h.startTestFailover(ctx, g, sel)
	h.mu.Lock()
	defer h.mu.Unlock()
	if err != nil {
		delete(h.fo.tests, group)
		h.forceStateLocked(group, Replicating)
		return nil, err
	}
	h.fo.tests[group] = t
	h.log.Info("test failover started", "group", group, "point", t.im.point.ID, "selector", sel)
	return t, nil
}

func (h *ReplicaHost) startTestFailover(ctx context.Context, g checkpoint.Group, sel PointSelector) (*TestFailover, error) {
	c, err := h.cloneSelected(ctx, g, sel, testFailoverClone)
	if err != nil {
		return nil, err
	}
	return &TestFailover{im: newFailoverImage(g.ID(), c, g.Spec())}, nil
}

// StopTestFailover ends the test failover of group: its image and every
// write made to it are discarded, the point is unpinned (retention may
// prune it now), and the group is Replicating. It returns a *StateError
// unless a test failover of the group is running.
func (h *ReplicaHost) StopTestFailover(ctx context.Context, group string) error {
	if h.isClosed() {
		return ErrClosed
	}
	if err := h.restoreGroupByID(ctx, group); err != nil { // restore.go
		return err
	}
	h.mu.Lock()
	t := h.fo.tests[group]
	from := h.stateLocked(group)
	if t == nil || !CanTransition(RoleReplica, from, Replicating) {
		h.mu.Unlock()
		return &StateError{Op: "stop test failover", From: from, To: Replicating}
	}
	delete(h.fo.tests, group)
	h.setStateLocked("stop test failover", group, Replicating)
	h.mu.Unlock()

	t.im.seal()
	if err := t.im.clone.Discard(ctx); err != nil {
		// The overlay left on disk is discarded by the next test failover.
		return fmt.Errorf("replica: stop test failover of %q: discard its image: %w", group, err)
	}
	h.log.Info("test failover stopped", "group", group)
	return nil
}
