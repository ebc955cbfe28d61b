package main

import (
	"context"
	"fmt"
	"time"

	"github.com/blockrep/blockrep/replica"
)

// promotionWait bounds the wait for ReplicaConfig.OnPromoted, which the
// promoted host calls once it acknowledged the promotion.
const promotionWait = 10 * time.Second

// plannedFailover moves the primary role from hv1 to hv2 without losing a
// write: hv1's writes stop, its last delta goes, both sides confirm the same
// content, hv2 is promoted; hv1 demotes itself into its own replica host's
// store, and hv2 reverses the direction: hv2 → hv1, no resynchronization.
func (s *story) plannedFailover(ctx context.Context) error {
	if err := s.w.stop(); err != nil {
		return err
	}
	_, vols := s.primaryVolumes()
	s.rep.step("planned   failover hv1 → hv2: the writer stops first (the VM shuts down); %d writes not sent yet", s.m.pendingWrites())
	if err := s.verify(ctx, "hv1's volumes as the writer stopped (the model checked against the real files)", vols, s.m.current()); err != nil {
		return err
	}
	start := time.Now()
	res, err := s.rel.PlannedFailover(ctx, replica.WithReverseTo(s.hv1.addr))
	if err != nil {
		return fmt.Errorf("planned failover: %w", err)
	}
	s.cycles++
	s.sent += res.StreamBytes
	last := s.m.current().root()
	mr, err := s.m.match(res.Point, res.Hash)
	if err != nil || res.Hash != last {
		s.rep.fail("final point %s holds %s, hv1's last image is %s (%v)", shortID(res.Point), shortHash(res.Hash), shortHash(last), err)
		return fmt.Errorf("planned failover: %w", errMismatch)
	}
	s.rep.detail("final cycle: point %s, %d blocks, %s delta; both sides hold content %s; hv2 promoted (%s)",
		shortID(res.Point), res.Blocks, formatBytes(res.StreamBytes), shortHash(res.Hash), formatDuration(time.Since(start)))
	s.rep.ok("the final point is hv1's last image: every write it made (%d since the last cycle)", mr.Writes+mr.Left)
	select {
	case p := <-s.hv2.promoted:
		s.rep.detail("hv2 heard (OnPromoted): group %s promoted, reverse toward %s (%s)", p.group, p.addr, s.hv1.tr.dir.name(p.addr))
	case <-time.After(promotionWait):
		s.rep.fail("hv2's OnPromoted was not called within %s", promotionWait)
		return fmt.Errorf("planned failover: no promotion heard: %w", errMismatch)
	case <-ctx.Done():
		return ctx.Err()
	}
	s.rep.detail("hv1's relationship: %s; hv2's group: %s", s.rel.State(), s.groupState(ctx))

	start = time.Now()
	if err := s.hv1.ph.Demote(ctx, s.group, s.hv1.rh); err != nil {
		return fmt.Errorf("demote hv1: %w", err)
	}
	points, err := s.checkpointPoints(ctx, s.hv1)
	if err != nil {
		return err
	}
	latest := points[len(points)-1]
	s.rep.step("demote    hv1: its volumes copied into its own replica host's store, at point %s (%s, a local copy, nothing sent)",
		shortID(latest.ID), formatDuration(time.Since(start)))
	if latest.ID != res.Point {
		s.rep.fail("hv1's store is at point %s, not the final point %s", shortID(latest.ID), shortID(res.Point))
		return fmt.Errorf("demote: %w", errMismatch)
	}
	if err := s.checkRecorded(s.hv1, latest); err != nil {
		return err
	}
	want, _ := s.m.point(res.Point)
	if err := s.verifyPoint(ctx, s.hv1, latest.ID, want, "hv1's store, read back"); err != nil {
		return err
	}
	return s.reverse(ctx, s.hv2, s.hv1, want, true)
}
