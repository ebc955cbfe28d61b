package replicasim

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/blockrep/blockrep/checkpoint"
	"github.com/blockrep/blockrep/replica"
)

// extendGroup makes the replica forward the current group to the extended
// replica.
func (s *sim) extendGroup(ctx context.Context, r *rand.Rand) {
	cfg := replica.ExtendConfig{
		Replica:   ExtendedAddress,
		Frequency: replica.Frequency5m,
		Retention: checkpoint.Retention{Additional: r.IntN(3), Spacing: time.Minute},
	}
	err := s.c.rep.rh.Extend(ctx, s.c.GroupID(), cfg)
	switch {
	case err == nil:
		s.extend = &cfg
	case errors.Is(err, replica.ErrExtended), errors.Is(err, replica.ErrUnknownGroup), errors.Is(err, replica.ErrInvalidState):
	case s.c.rep.fs.Crashed():
	default:
		s.failf("replica-op", "extend: %v", err)
	}
}

// forward runs one forward of the current group now; an acknowledged
// forward's point must be the extended replica's latest.
func (s *sim) forward(ctx context.Context) error {
	res, err := s.c.rep.rh.ForwardNow(ctx, s.c.GroupID())
	switch {
	case err == nil:
	case errors.Is(err, replica.ErrForwardMismatch):
		s.failf("extended-equals-replica", "forward: %v", err)
		return err
	case errors.Is(err, replica.ErrNotExtended), errors.Is(err, replica.ErrInvalidState), transient(err),
		errors.Is(err, replica.ErrUnknownGroup), s.c.rep.fs.Crashed(), s.c.ext.fs.Crashed():
		return err
	default:
		s.failf("replica-op", "forward: %v", err)
		return err
	}
	if res.Point.IsZero() {
		return nil
	}
	s.seen[res.Point] = true
	var latest checkpoint.Point
	g, err := s.c.ext.store.Group(ctx, s.c.GroupID())
	if err == nil {
		latest, err = g.Latest(ctx)
	}
	if err == nil && latest.ID == res.Point {
		return nil
	}
	if s.c.cfg.Strict || s.extend == nil {
		s.failf("forward-committed", "forward of %s acknowledged; the extended replica's latest is %s (%v)", res.Point, latest.ID, err)
		return err
	}
	// Not strict: a failed forward's pin made this one a no-op (see
	// TestFailedForwardCountsAsForwarded); extend anew, as an operator would.
	s.extReset = true
	if err := s.c.rep.rh.StopExtend(ctx, s.c.GroupID()); err != nil {
		s.failf("replica-op", "stop extend: %v", err)
		return err
	}
	if err := s.c.rep.rh.Extend(ctx, s.c.GroupID(), *s.extend); err != nil {
		s.failf("replica-op", "extend anew: %v", err)
		return err
	}
	return fmt.Errorf("replicasim: forward of %s reported without the extended replica having it", res.Point)
}
