package replicasim

import (
	"context"
	"errors"
	"math/rand/v2"
	"time"

	"github.com/blockrep/blockrep/checkpoint"
	"github.com/blockrep/blockrep/delta"
	"github.com/blockrep/blockrep/replica"
)

// crashReplica crashes the replica's filesystem, at once or at a random
// operation of the next replication attempt, and restarts the replica on
// what survived: the store must open at the point it had before the attempt
// or at the attempt's point, never in between.
func (s *sim) crashReplica(ctx context.Context, r *rand.Rand) {
	gid := s.c.GroupID()
	var before delta.PointID
	var beforeTime time.Time
	if g := s.group(ctx); g != nil {
		if p, err := g.Latest(ctx); err == nil {
			before, beforeTime = p.ID, p.Time
		}
	}
	action := r.IntN(8)
	checkLatest := action == 0 || action > 2 // the store's other operations keep the latest point, or (completing) are checked apart
	fo := s.fo
	completed := false
	var acked delta.PointID // the point the attempt had acknowledged, if any
	if action != 0 {
		s.c.rep.fs.CrashAt(r.Int64N(40)) // an attempt makes some 25 operations
		s.crashArmed = true
		switch action {
		case 1:
			if g := s.group(ctx); g != nil {
				g.Prune(ctx) // fails once the crash point is reached
			}
		case 2:
			switch {
			case fo != nil:
				completed = s.c.rep.rh.CompleteFailover(ctx, gid) == nil
				s.fo = nil
			case s.tf != nil:
				if s.c.rep.rh.StopTestFailover(ctx, gid) == nil {
					s.tf = nil
				}
			default:
				if tf, err := s.c.rep.rh.StartTestFailover(ctx, gid, replica.SelectLatest); err == nil {
					s.tf = tf
				}
			}
		default:
			s.acked = delta.PointID{}
			s.attempt(ctx, nil, false)
			acked = s.acked
		}
		s.c.rep.fs.CrashAt(-1)
		s.crashArmed = false
		// (A session may still be applying after the attempt returned: the
		// crash point can be reached until it is removed.)
		if !s.c.rep.fs.Crashed() {
			if completed {
				s.afterComplete(ctx, fo, false)
			}
			return
		}
	}
	torn := r.IntN(3) == 0
	if err := s.c.CrashReplica(ctx, r.Uint64(), torn); err != nil {
		s.failf("store-opens-committed", "restarting the replica (torn %t): %v", torn, err)
		return
	}
	clear(s.verified)
	s.check = "store-opens-committed"
	s.checkStoreSaysWhich(ctx, gid, torn)
	if s.fail != nil {
		return
	}
	s.recoverFailovers(ctx)
	if s.fail != nil {
		return
	}
	if fo != nil && s.fo == nil {
		// The crash hit CompleteFailover: it committed (FailedOver), or
		// not (the failover is running again, or was never there).
		if rg, err := s.c.rep.rh.Group(ctx, gid); err == nil && rg.State == replica.FailedOver {
			s.afterComplete(ctx, fo, true)
			return
		}
	}
	g, err := s.c.rep.store.Group(ctx, gid)
	if errors.Is(err, checkpoint.ErrUnknownGroup) && before.IsZero() {
		return
	}
	if err != nil {
		s.failf("store-opens-committed", "opening group %s after the crash (torn %t): %v", gid, torn, err)
		return
	}
	latest, err := g.Latest(ctx)
	switch {
	case !acked.IsZero() && (err != nil || latest.ID != acked):
		s.failf("acked-point-durable", "point %s was acknowledged before the crash (torn %t); after it the latest is %s (%v)", acked, torn, latest.ID, err)
	case errors.Is(err, checkpoint.ErrNoPoint) && before.IsZero():
	case err != nil:
		s.failf("store-opens-committed", "latest point after the crash (torn %t): %v", torn, err)
	case checkLatest && latest.ID != before && (latest.Time.Before(beforeTime) || latest.Time.After(s.c.clock.Now())):
		// (An apply of an earlier attempt the replica was still finishing
		// may have committed meanwhile: any point from the one before to the
		// attempt's is committed state; the chain check compares content.)
		s.failf("store-opens-committed", "after the crash (torn %t) the latest point is %s of %s, older than the point before (%s of %s); recovered %+v",
			torn, latest.ID, latest.Time.Format(time.TimeOnly), before, beforeTime.Format(time.TimeOnly), g.Recovered())
	}
}

// recoverFailovers picks up, after a restart of the replica, the failover
// or test failover the earlier process left running (the store keeps them):
// a running one must show its point's image, with what survived of the
// writes made to it (only synced overlay writes survive a crash, so that
// part is taken as found).
func (s *sim) recoverFailovers(ctx context.Context) {
	hadTF, hadFO := s.tf != nil, s.fo != nil
	s.tf, s.fo = nil, nil
	if s.extend != nil { // the caller extends again after a restart
		if err := s.c.rep.rh.Extend(ctx, s.c.GroupID(), *s.extend); err != nil && !errors.Is(err, replica.ErrExtended) {
			s.failf("replica-op", "extend again after the restart: %v", err)
			return
		}
	}
	if err := s.c.rep.rh.Recover(ctx); err != nil {
		s.failf("failover-recovered", "Recover after the restart: %v", err)
		return
	}
	gid := s.c.GroupID()
	if tf, err := s.c.rep.rh.ActiveTestFailover(gid); err == nil {
		s.tf = tf
	} else if hadTF && !errors.Is(err, replica.ErrInvalidState) {
		s.failf("failover-recovered", "the test failover after the restart: %v", err)
		return
	}
	if f, err := s.c.rep.rh.ActiveFailover(gid); err == nil {
		img, err := readVolumes(f.Volumes())
		if err != nil {
			s.failf("failover-recovered", "reading the failover's volumes after the restart: %v", err)
			return
		}
		var chain []checkpoint.Point
		if g := s.group(ctx); g != nil {
			chain, _ = g.Points(ctx)
		}
		s.fo = &failoverRun{f: f, img: img, chain: chain}
	} else if hadFO && !errors.Is(err, replica.ErrInvalidState) {
		s.failf("failover-recovered", "the failover after the restart: %v", err)
	}
}

// crashPrimary crashes the primary's filesystem at once or sets a crash
// point at one of its next operations (the host restarts after the step in
// which it was reached).
func (s *sim) crashPrimary(ctx context.Context, r *rand.Rand) {
	if r.IntN(3) == 0 {
		if err := s.c.CrashPrimary(ctx, r.Uint64(), r.IntN(3) == 0); err != nil && !transient(err) {
			s.failf("primary-restart", "restarting the primary after its crash: %v", err)
		}
		return
	}
	s.c.pfs.CrashAt(r.Int64N(24))
}

// checkStoreSaysWhich opens a copy of the crashed replica's filesystem with
// a store of its own, before the host recovers anything, and checks that
// the group opens and says at which point (Group.Recovered): its latest.
func (s *sim) checkStoreSaysWhich(ctx context.Context, gid string, torn bool) {
	store, err := checkpoint.Open(s.c.rep.fs.Clone(), storeRoot)
	if err != nil {
		s.failf("store-opens-committed", "opening a copy of the crashed store (torn %t): %v", torn, err)
		return
	}
	defer store.Close()
	g, err := store.Group(ctx, gid)
	if errors.Is(err, checkpoint.ErrUnknownGroup) {
		return
	}
	if err != nil {
		s.failf("store-opens-committed", "opening group %s of a copy of the crashed store (torn %t): %v", gid, torn, err)
		return
	}
	latest, err := g.Latest(ctx)
	if errors.Is(err, checkpoint.ErrNoPoint) {
		latest, err = checkpoint.Point{}, nil
	}
	if err != nil || g.Recovered().Point != latest.ID {
		s.failf("store-opens-committed", "after the crash (torn %t) the store says it opened at %s (%s), its latest point is %s (%v)",
			torn, g.Recovered().Point, g.Recovered().Outcome, latest.ID, err)
	}
}
