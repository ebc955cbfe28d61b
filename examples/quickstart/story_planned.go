package main

import (
	"context"
	"fmt"
	"time"

	"github.com/blockrep/blockrep/delta"
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
	return s.reverse(ctx, s.hv2, s.hv1, want, "after the planned failover both sides are at the same point: no resynchronization, only what hv2 writes crosses the wire")
}

// reverse makes, on the new primary's replica host where the group is
// FailedOver, a relationship to the old primary's replica host; checks the
// new primary's volumes; runs the first cycle before anything is written,
// which sends only what differs since the last common point (nothing at all
// after a planned failover), and checks the old primary's store; then
// restarts the writer on the new primary and runs a few cycles.
func (s *story) reverse(ctx context.Context, to, from *host, old image, why string) error {
	start := time.Now()
	rel, err := to.rh.Reverse(ctx, s.group, to.ph, replica.ReverseConfig{
		Replica:   from.addr,
		Frequency: replica.MinFrequency,
		Retention: s.retention(),
		Progress:  s.rep.progress("first sync"),
	})
	if err != nil {
		return fmt.Errorf("reverse %s → %s: %w", to.name, from.name, err)
	}
	s.rel, s.primary, s.replica = rel, to, from
	s.rep.step("reverse   %s → %s (%s): %s writes through a clone of its store's latest point; state %s",
		to.name, from.name, formatDuration(time.Since(start)), to.name, rel.State())
	s.rep.detail("%s", why)
	_, vols := s.primaryVolumes()
	if err := s.verify(ctx, to.name+"'s volumes, the new primary's", vols, s.m.current()); err != nil {
		return err
	}
	id, err := s.firstSync(ctx, old)
	if err != nil {
		return err
	}
	want, _ := s.m.point(id)
	if err := s.verifyPoint(ctx, from, id, want, from.name+"'s store after the first cycle, read back"); err != nil {
		return err
	}
	sent := s.sent
	s.startWriter(ctx)
	s.rep.step("writer    writes through %s's volumes now", to.name)
	if err := s.cycleLoop(ctx, s.laterCycles(), nil); err != nil {
		return err
	}
	s.rep.detail("%d cycles %s → %s sent %s for what the writer wrote", s.laterCycles(), to.name, from.name, formatBytes(s.sent-sent))
	return nil
}

// firstSync runs the reversed relationship's first cycle — or, when the
// relationship requires it (a side's change map was lost), a
// resynchronization by hash comparison — and returns the point it made.
// old is the image the old primary's store held: every block that differs
// from the new primary's image must cross, and not every block may.
func (s *story) firstSync(ctx context.Context, old image) (delta.PointID, error) {
	now := s.m.current()
	var differ int64
	for i := range now {
		d, err := now[i].Diff(old[i])
		if err != nil {
			return delta.PointID{}, err
		}
		differ += d.Count()
	}
	var all int64
	for _, sz := range s.sizes {
		all += (sz + int64(s.blockSize) - 1) / int64(s.blockSize)
	}
	var id delta.PointID
	var sent int64
	if s.rel.State() == replica.ResynchronizationRequired {
		res, err := s.rel.Resynchronize(ctx)
		if err != nil {
			return id, fmt.Errorf("resynchronize: %w", err)
		}
		s.sent += res.StreamBytes
		s.rep.step("resync    %s → %s  point %s: %d blocks differed, %s delta, %s of hashes in %d rounds",
			s.primary.name, s.replica.name, shortID(res.Point), res.DifferingBlocks, formatBytes(res.StreamBytes), formatBytes(res.HashBytes), res.HashRounds)
		if _, err := s.m.match(res.Point, res.Hash); err != nil {
			s.rep.fail("resynchronized point: %v", err)
			return id, fmt.Errorf("resynchronize: %w", errMismatch)
		}
		id, sent = res.Point, res.Blocks
	} else {
		res, _, err := s.runCycle(ctx)
		if err != nil {
			return id, err
		}
		id, sent = res.Point, res.Blocks
	}
	if sent < differ {
		s.rep.fail("sent %d blocks, but %d differ between the two sides", sent, differ)
		return id, fmt.Errorf("first sync: %w", errMismatch)
	}
	s.rep.ok("sent %d of the group's %d blocks: the %d that differ between the two sides' images, and %d written since the common point that were equal again",
		sent, all, differ, sent-differ)
	return id, nil
}

// laterCycles is how many cycles the phases after the first run.
func (s *story) laterCycles() int { return min(3, s.opt.Cycles) }
