package main

import (
	"context"
	"fmt"
	"time"

	"github.com/blockrep/blockrep/delta"
	"github.com/blockrep/blockrep/replica"
)

// reverse makes, on the new primary's replica host where the group is
// FailedOver, a relationship to the old primary's replica host; checks the
// new primary's volumes; runs the first cycle before anything is written,
// which sends only what differs since the last common point (nothing at all
// after a planned failover), and checks the old primary's store; then
// restarts the writer on the new primary and runs a few cycles.
//
// After a planned failover a resynchronization is a failure: both sides are
// at the same point. After an unplanned one it is the library's fallback
// when a side's change map was lost, and is reported as such.
func (s *story) reverse(ctx context.Context, to, from *host, old image, planned bool) error {
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
	if planned {
		s.rep.detail("after the planned failover both sides are at the same point: no resynchronization, only what %s writes crosses the wire", to.name)
	} else {
		s.rep.detail("after the unplanned failover the first cycle sends only the blocks that differ since the last common point — those the failover changed and those %s wrote after it", from.name)
	}
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
	if r := s.rel.LastResync(); !r.Point.IsZero() && planned {
		s.rep.fail("the first sync after a planned failover was a resynchronization (%d blocks differed)", r.DifferingBlocks)
		return fmt.Errorf("reverse after a planned failover: %w", errMismatch)
	} else if !r.Point.IsZero() {
		s.rep.detail("the first sync was a resynchronization by hash comparison: %d blocks differed, %s of hashes",
			r.DifferingBlocks, formatBytes(r.HashBytes))
	} else {
		s.rep.ok("no resynchronization: the first cycle built on the common point, no hash comparison ran")
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

// reverseUnplanned brings the lost primary back as the replica: it demotes
// itself into its own replica host's store (its image as it stopped, with
// the map of the blocks it wrote since its last acknowledged point), and the
// failed-over side reverses toward it.
func (s *story) reverseUnplanned(ctx context.Context) error {
	lost, to := s.primary, s.replica
	start := time.Now()
	if err := lost.ph.Demote(ctx, s.group, lost.rh); err != nil {
		return fmt.Errorf("demote %s: %w", lost.name, err)
	}
	points, err := s.checkpointPoints(ctx, lost)
	if err != nil {
		return err
	}
	latest := points[len(points)-1]
	s.rep.step("back      %s returns and demotes itself: its image as it stopped kept in its store as point %s (%s, a local copy)",
		lost.name, shortID(latest.ID), formatDuration(time.Since(start)))
	if err := s.verifyPoint(ctx, lost, latest.ID, s.lostImage, lost.name+"'s store, read back"); err != nil {
		return err
	}
	return s.reverse(ctx, to, lost, s.lostImage, false)
}

// completeFailover fails over again to an older point, writes, and
// completes; the model then continues from the committed image.
func (s *story) completeFailover(ctx context.Context) error {
	rh := s.replica.rh
	id, err := s.olderPoint(ctx)
	if err != nil {
		return err
	}
	f, err := rh.Failover(ctx, s.group, replica.SelectPoint(id))
	if err != nil {
		return fmt.Errorf("failover: %w", err)
	}
	s.rep.step("unplanned failover again on %s, to point %s", s.replica.name, shortID(id))
	branch, _ := s.m.point(id)
	if err := s.verify(ctx, "failover volumes", readers(f.Volumes()), branch); err != nil {
		return err
	}
	if err := s.w.writeBlocks(writersOf(f.Volumes()), branch, 16); err != nil {
		return fmt.Errorf("write to the failover: %w", err)
	}
	start := time.Now()
	if err := rh.CompleteFailover(ctx, s.group); err != nil {
		return fmt.Errorf("complete failover: %w", err)
	}
	points, err := s.checkpointPoints(ctx, s.replica)
	if err != nil {
		return err
	}
	latest := points[len(points)-1]
	s.rep.step("complete  the failover (%s): 16 blocks written to it, committed as point %s; %d point(s) left; group %s",
		formatDuration(time.Since(start)), shortID(latest.ID), len(points), s.groupState(ctx))
	if err := s.verifyPoint(ctx, s.replica, latest.ID, branch, "the committed point, read back from the store"); err != nil {
		return err
	}
	s.m.remember(latest.ID, branch)
	s.m.rebase(branch)
	return nil
}
