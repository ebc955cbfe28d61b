package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/blockrep/blockrep/delta"
	"github.com/blockrep/blockrep/replica"
)

// unplannedFailover fails the group over on the replica to an older point
// as if the primary were lost, shows the primary refused, cancels (the chain
// is as before and replication goes on), then — the primary lost for good —
// fails over again and completes: the chosen point, with the writes made
// during the failover, becomes the group's one point.
func (s *story) unplannedFailover(ctx context.Context) error {
	rh := s.replica.rh
	id, err := s.olderPoint(ctx)
	if err != nil {
		return err
	}
	before, err := s.checkpointPoints(ctx, s.replica)
	if err != nil {
		return err
	}
	start := time.Now()
	f, err := rh.Failover(ctx, s.group, replica.SelectPoint(id))
	if err != nil {
		return fmt.Errorf("failover: %w", err)
	}
	s.rep.step("unplanned failover on %s to the older point %s (%s); group %s", s.replica.name, shortID(id), formatDuration(time.Since(start)), s.groupState(ctx))
	want, _ := s.m.point(id)
	if err := s.verify(ctx, "failover volumes", readers(f.Volumes()), want); err != nil {
		return err
	}
	if err := s.w.writeBlocks(writersOf(f.Volumes()), want, 16); err != nil {
		return fmt.Errorf("write to the failover: %w", err)
	}
	s.rep.detail("16 blocks written to the failed-over volumes")

	if err := s.refusedCycle(ctx); err != nil {
		return err
	}
	s.rep.detail("%s's health: %s", s.primary.name, healthLine(s.rel.Health()))

	if err := rh.CancelFailover(ctx, s.group); err != nil {
		return fmt.Errorf("cancel failover: %w", err)
	}
	after, err := s.checkpointPoints(ctx, s.replica)
	if err != nil {
		return err
	}
	s.rep.step("cancel    the failover: the writes to it are discarded; group %s", s.groupState(ctx))
	if !samePoints(before, after) {
		s.rep.fail("the chain changed: %d points before, %d after", len(before), len(after))
		return fmt.Errorf("cancel failover: %w", errMismatch)
	}
	latest := after[len(after)-1]
	s.rep.ok("chain exactly as before: %d points, latest %s", len(after), shortID(latest.ID))
	im, _ := s.m.point(latest.ID)
	if err := s.verifyPoint(ctx, s.replica, latest.ID, im, "the latest point, read back: none of the failover's writes in it"); err != nil {
		return err
	}
	if _, err := s.cycle(ctx); err != nil {
		return err
	}

	if err := s.w.stop(); err != nil {
		return err
	}
	_, vols := s.primaryVolumes()
	s.rep.step("lost      %s for good: the writer stops; %d writes since the last point will be lost with it", s.primary.name, s.m.pendingWrites())
	s.lostImage = s.m.current()
	if err := s.verify(ctx, s.primary.name+"'s volumes as it stopped (the model checked against the real files)", vols, s.lostImage); err != nil {
		return err
	}
	return s.completeFailover(ctx)
}

// olderPoint picks a point two older than the replica's latest (or its
// oldest when the chain is shorter).
func (s *story) olderPoint(ctx context.Context) (delta.PointID, error) {
	points, err := s.checkpointPoints(ctx, s.replica)
	if err != nil {
		return delta.PointID{}, err
	}
	if len(points) < 2 {
		return delta.PointID{}, fmt.Errorf("%s has %d point, want an older one", s.replica.name, len(points))
	}
	return points[max(0, len(points)-3)].ID, nil
}

// groupState is the group's state on the current replica host.
func (s *story) groupState(ctx context.Context) string {
	g, err := s.replica.rh.Group(ctx, s.group)
	if err != nil {
		return "unknown (" + err.Error() + ")"
	}
	return g.State.String()
}

// refusedCycle runs a cycle of the primary while its replica is failed
// over: it must fail with ErrReplicaFailedOver and change nothing. (Over
// TCP the replica's Nack can be lost with the connection it hangs up; the
// primary then reads the failover from a new connection's status, so the
// refusal is reported either way.)
func (s *story) refusedCycle(ctx context.Context) error {
	_, err := s.rel.Cycle(ctx)
	if errors.Is(err, replica.ErrReplicaFailedOver) {
		s.rep.ok("%s's next cycle is refused: %v", s.primary.name, replica.ErrReplicaFailedOver)
		return nil
	}
	s.rep.fail("%s's cycle during the failover: got %v, want it refused", s.primary.name, err)
	return fmt.Errorf("cycle to a failed-over replica: %w", errMismatch)
}
