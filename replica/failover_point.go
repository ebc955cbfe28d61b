package replica

import (
	"context"
	"errors"
	"fmt"

	"github.com/blockrep/blockrep/checkpoint"
	"github.com/blockrep/blockrep/delta"
)

// Sentinel errors of failovers and test failovers.
var (
	// ErrNoRecoveryPoint is returned by ReplicaHost.Failover and
	// StartTestFailover when the PointSelector matches no point of the
	// group's chain: the group has no point yet, none is app-consistent,
	// or the id given is not in the chain (never applied or pruned).
	ErrNoRecoveryPoint = errors.New("replica: no such recovery point")

	// ErrTestFailoverRunning is returned by ReplicaHost.StartTestFailover
	// when the group already has a test failover running (one at a time
	// per group).
	ErrTestFailoverRunning = errors.New("replica: a test failover is already running")

	// ErrFailoverEnded is returned by the volumes of a Failover or a
	// TestFailover once it was completed, cancelled or stopped (and while
	// CompleteFailover copies it).
	ErrFailoverEnded = errors.New("replica: failover ended")
)

// pointKind says how a PointSelector chooses.
type pointKind uint8

const (
	pickLatest pointKind = iota
	pickLatestApp
	pickID
)

// PointSelector chooses the recovery point a failover or a test failover
// starts from. The zero value selects the latest point.
type PointSelector struct {
	kind pointKind
	id   delta.PointID
}

// The selectors of a failover's point.
var (
	// SelectLatest selects the newest point of the chain.
	SelectLatest = PointSelector{kind: pickLatest}
	// SelectLatestAppConsistent selects the newest application-consistent
	// point (one taken with the primary's quiesce hook).
	SelectLatestAppConsistent = PointSelector{kind: pickLatestApp}
)

// SelectPoint selects the point of the chain with this id.
func SelectPoint(id delta.PointID) PointSelector { return PointSelector{kind: pickID, id: id} }

// String describes the selector: "latest", "latest app-consistent" or the
// point id.
func (s PointSelector) String() string {
	switch s.kind {
	case pickLatestApp:
		return "latest app-consistent"
	case pickID:
		return "point " + s.id.String()
	}
	return "latest"
}

// pick returns the point of g's chain that s selects, or an error wrapping
// ErrNoRecoveryPoint.
func (s PointSelector) pick(ctx context.Context, g checkpoint.Group) (checkpoint.Point, error) {
	pts, err := g.Points(ctx)
	if err != nil {
		return checkpoint.Point{}, err
	}
	for i := len(pts) - 1; i >= 0; i-- {
		p := pts[i]
		switch {
		case s.kind == pickLatest,
			s.kind == pickLatestApp && p.Consistency == delta.ConsistencyApp,
			s.kind == pickID && p.ID == s.id:
			return p, nil
		}
	}
	return checkpoint.Point{}, fmt.Errorf("%w: %s of group %q (%d points)", ErrNoRecoveryPoint, s, g.ID(), len(pts))
}

// openGroup opens group id of the host's store, mapping an unknown group
// to ErrUnknownGroup.
func (h *ReplicaHost) openGroup(ctx context.Context, id string) (checkpoint.Group, error) {
	if h.isClosed() {
		return nil, ErrClosed
	}
	st, err := h.storeFor(ctx, id) // stores.go
	if err != nil {
		return nil, err
	}
	g, err := st.Group(ctx, id)
	if errors.Is(err, checkpoint.ErrUnknownGroup) {
		return nil, fmt.Errorf("%w: %q: %w", ErrUnknownGroup, id, err)
	}
	if err == nil {
		err = h.restoreGroup(ctx, g) // restore.go
	}
	if err != nil {
		return nil, err
	}
	h.loadRole(g) // a FailedOver group stays so across restarts: reverse_state.go
	return g, nil
}

// cloneAttempts bounds how often a failover or a test failover selects its
// point again when the one selected was pruned before it could be cloned.
const cloneAttempts = 5

// cloneSelected clones the point of g that sel selects under name. A delta
// applied meanwhile (a test failover lets the primary's deltas apply) may
// commit a newer point and prune the selected one between the selection
// and the clone; the store's Clone checks the point is in the chain and
// pins it in one step, so it then fails with checkpoint.ErrUnknownPoint
// and the point is selected again from the chain as it is now (a point
// selected by id that is gone is ErrNoRecoveryPoint).
func (h *ReplicaHost) cloneSelected(ctx context.Context, g checkpoint.Group, sel PointSelector, name string) (checkpoint.Clone, error) {
	var err error
	for range cloneAttempts {
		var p checkpoint.Point
		if p, err = sel.pick(ctx, g); err != nil {
			return nil, err
		}
		var c checkpoint.Clone
		c, err = h.cloneFresh(ctx, g, p, name)
		if !errors.Is(err, checkpoint.ErrUnknownPoint) {
			return c, err
		}
		h.log.Info("selected point pruned before it was cloned: selecting again", "group", g.ID(), "point", p.ID, "selector", sel)
	}
	return nil, fmt.Errorf("replica: %s of group %q was pruned %d times before it could be cloned: %w", sel, g.ID(), cloneAttempts, err)
}

// cloneFresh clones point p of g under name, first discarding a clone of
// that name left behind (restoreGroup reopens the ones a restart can use;
// what is left here is a failed discard's).
func (h *ReplicaHost) cloneFresh(ctx context.Context, g checkpoint.Group, p checkpoint.Point, name string) (checkpoint.Clone, error) {
	names, err := g.Clones(ctx)
	if err != nil {
		return nil, err
	}
	for _, n := range names {
		if n == name {
			h.log.Warn("discarding a clone left by an earlier process", "group", g.ID(), "clone", name)
			if err := g.DiscardClone(ctx, name); err != nil {
				return nil, err
			}
		}
	}
	return g.Clone(ctx, p.ID, name)
}
