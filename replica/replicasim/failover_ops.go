package replicasim

import (
	"context"
	"errors"
	"math/rand/v2"

	"github.com/blockrep/blockrep/checkpoint"
	"github.com/blockrep/blockrep/delta"
	"github.com/blockrep/blockrep/replica"
)

// pointSelector draws a failover's point: the latest, one of the chain's,
// or the latest app-consistent (none is: the selector finds nothing).
//
// explicit says the selector names a point by id: an apply the replica was
// still finishing may have pruned it since it was listed.
func (s *sim) pointSelector(ctx context.Context, r *rand.Rand) (sel replica.PointSelector, explicit bool) {
	switch r.IntN(4) {
	case 0, 1:
		return replica.SelectLatest, false
	case 2:
		if g := s.group(ctx); g != nil {
			if pts, err := g.Points(ctx); err == nil && len(pts) > 0 {
				return replica.SelectPoint(pts[r.IntN(len(pts))].ID), true
			}
		}
		return replica.SelectLatest, false
	default:
		return replica.SelectLatestAppConsistent, false
	}
}

// scribble writes a few random ranges to vols and to img alike.
func (s *sim) scribble(r *rand.Rand, vols []checkpoint.VolumeReadWriter, img [][]byte, check string) {
	for range 1 + r.IntN(5) {
		vol, off, p := s.randomWrite(r)
		if _, err := vols[vol].WriteAt(p, off); err != nil {
			s.failf(check, "writing %d bytes at %d of volume %d: %v", len(p), off, vol, err)
			return
		}
		copy(img[vol][off:], p)
	}
}

func (s *sim) testFailover(ctx context.Context, r *rand.Rand) {
	sel, explicit := s.pointSelector(ctx, r)
	tf, err := s.c.rep.rh.StartTestFailover(ctx, s.c.GroupID(), sel)
	if (explicit || !s.c.cfg.Strict) && errors.Is(err, checkpoint.ErrUnknownPoint) {
		// Not strict: the latest point selected may be pruned by an apply
		// still running before it is cloned (TestTestFailoverLatestPruned).
		return
	}
	if !s.replicaOp("start test failover", err) {
		return
	}
	s.tf = tf
	img, err := readVolumes(tf.Volumes())
	if err != nil {
		s.failf("testfailover-image", "reading the test failover's volumes: %v", err)
		return
	}
	if fr := s.m.lookup(s.c.GroupID(), tf.Point().Time); fr == nil || !fr.match(img) {
		s.failf("testfailover-image", "the test failover of point %s does not show its image", tf.Point().ID)
		return
	}
	s.scribble(r, tf.Volumes(), img, "testfailover-image")
	if got, err := readVolumes(tf.Volumes()); err != nil || !equalImages(got, img) {
		s.failf("testfailover-image", "the test failover's volumes do not read back what was written (%v)", err)
	}
	s.check = "testfailover-changed-nothing"
}

func (s *sim) stopTestFailover(ctx context.Context) {
	if !s.replicaOp("stop test failover", s.c.rep.rh.StopTestFailover(ctx, s.c.GroupID())) {
		return
	}
	s.tf = nil
	s.check = "testfailover-changed-nothing"
}

func (s *sim) failover(ctx context.Context, r *rand.Rand) {
	sel, explicit := s.pointSelector(ctx, r)
	f, err := s.c.rep.rh.Failover(ctx, s.c.GroupID(), sel)
	if explicit && errors.Is(err, checkpoint.ErrUnknownPoint) {
		return
	}
	if !s.replicaOp("failover", err) {
		return
	}
	// The chain as the failover found it: a delta the replica was still
	// applying when Failover was called is part of it.
	var chain []checkpoint.Point
	if g := s.group(ctx); g != nil {
		chain, _ = g.Points(ctx)
	}
	img, err := readVolumes(f.Volumes())
	if err != nil {
		s.failf("failover-image", "reading the failover's volumes: %v", err)
		return
	}
	if fr := s.m.lookup(s.c.GroupID(), f.Point().Time); fr == nil || !fr.match(img) {
		s.failf("failover-image", "the failover to point %s does not show its image", f.Point().ID)
		return
	}
	s.fo = &failoverRun{f: f, img: img, chain: chain}
	s.scribble(r, f.Volumes(), img, "failover-image")
	s.check = "failover-changed-nothing"
}

func (s *sim) cancelFailover(ctx context.Context) {
	if !s.replicaOp("cancel failover", s.c.rep.rh.CancelFailover(ctx, s.c.GroupID())) {
		return
	}
	fo := s.fo
	s.fo = nil
	s.check = "cancel-keeps-chain"
	if fo == nil {
		return // a failover from before a restart of the replica
	}
	g := s.group(ctx)
	if g == nil {
		return
	}
	pts, err := g.Points(ctx)
	if err != nil {
		s.failf("cancel-keeps-chain", "listing points: %v", err)
		return
	}
	// Unpinning the failover's point lets retention prune what it no
	// longer keeps (a point a crash left before its prune, say); nothing
	// else may change.
	if !keptChain(pts, fo.chain) {
		s.failf("cancel-keeps-chain", "chain before the failover %v, after cancelling %v", pointIDs(fo.chain), pointIDs(pts))
	}
}

func (s *sim) completeFailover(ctx context.Context) {
	if !s.replicaOp("complete failover", s.c.rep.rh.CompleteFailover(ctx, s.c.GroupID())) {
		return
	}
	fo := s.fo
	s.fo = nil
	s.afterComplete(ctx, fo, false)
}

// afterComplete checks a completed failover — the group's latest point is
// the failover's image and, unless a crash interrupted the completion
// (which leaves the other points for the next prune), its only point —
// then protects the primary's volumes anew as another group.
func (s *sim) afterComplete(ctx context.Context, fo *failoverRun, crashed bool) {
	if g := s.group(ctx); g != nil && fo != nil {
		// The pins first: a pin released since (a background forward's)
		// takes its point with it in the same commit, so every older point
		// still in the chain read after must be one of these pins'
		// (TestCompletedFailoverDropsPinnedPointsWhenReleasedRegression).
		pins, perr := g.Pins(ctx)
		pts, err := g.Points(ctx)
		if err != nil || perr != nil || len(pts) == 0 {
			s.failf("complete-failover-image", "after completing, the chain is %v (%v, %v), want one point", pointIDs(pts), err, perr)
			return
		}
		if len(pts) != 1 && !crashed && (s.c.cfg.Strict || !allPinned(pins, pts[:len(pts)-1])) {
			// Not strict: a test failover's pin left by a restart of the
			// replica keeps its point (see TestStalePinSurvivesCompleteFailover),
			// and so does an extension's pin of its base.
			s.failf("complete-failover-image", "after completing, the chain is %v with pins %v, want one point", pointIDs(pts), pins)
			return
		}
		latest := pts[len(pts)-1]
		img, err := readPoint(ctx, g, latest.ID)
		if err != nil || !equalImages(img, fo.img) {
			s.failf("complete-failover-image", "the completed point %s is not the failover's image (crash %t, %v): %v", latest.ID, crashed, err, diffBlocks(fo.img, img, s.c.cfg.BlockSize))
			return
		}
	}
	// The primary protects its volumes anew as another group.
	s.check = ""
	clear(s.verified)
	clear(s.extVerified)
	s.chain, s.extChain, s.lastFailed, s.extend = nil, nil, false, nil
	if err := s.c.Protect(ctx); err != nil && !transient(err) && !s.c.pfs.Crashed() {
		s.failf("primary-op", "protecting anew: %v", err)
	}
}

// allPinned reports whether every point of pts is pinned by one of pins.
func allPinned(pins []checkpoint.Pin, pts []checkpoint.Point) bool {
	pinned := map[delta.PointID]bool{}
	for _, p := range pins {
		pinned[p.Point] = true
	}
	for _, p := range pts {
		if !pinned[p.ID] {
			return false
		}
	}
	return true
}

// keptChain reports whether after holds points of before only, with the
// same hashes and in the same order, and the same latest point.
func keptChain(after, before []checkpoint.Point) bool {
	if len(after) == 0 || len(before) == 0 {
		return len(after) == len(before)
	}
	if after[len(after)-1].ID != before[len(before)-1].ID {
		return false
	}
	i := 0
	for _, p := range after {
		for i < len(before) && before[i].ID != p.ID {
			i++
		}
		if i == len(before) || before[i].Hash != p.Hash {
			return false
		}
		i++
	}
	return true
}

func pointIDs(pts []checkpoint.Point) []string {
	out := make([]string, len(pts))
	for i, p := range pts {
		out[i] = p.ID.String()
	}
	return out
}
