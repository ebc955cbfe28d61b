package replicasim

import (
	"context"
	"errors"

	"github.com/blockrep/blockrep/replica"
	"github.com/blockrep/blockrep/transport/memory"
)

// settle heals the network, ends failovers, and checks that replication
// then converges: an attempt succeeds within a few tries and the replica's
// latest point is the primary's image.
func (s *sim) settle(ctx context.Context) {
	s.settling = true
	s.c.net.HealAll()
	s.fwd, s.back = memory.Faults{}, memory.Faults{}
	s.setFaults()
	s.c.pfs.CrashAt(-1)
	s.c.rep.fs.CrashAt(-1)
	if s.tf != nil {
		s.stopTestFailover(ctx)
	}
	if s.fo != nil {
		s.cancelFailover(ctx)
	}
	if s.fail != nil {
		return
	}
	if s.c.rel != nil && s.c.rel.State() == replica.Suspended {
		s.primaryOp("resume", s.c.rel.Resume(ctx))
	}
	var err error
	for range 4 {
		if err = s.attempt(ctx, nil, false); err == nil || s.fail != nil {
			break
		}
	}
	if s.fail != nil {
		return
	}
	if err != nil && s.c.rel != nil && s.c.rel.State() == replica.InitialReplicationPending && s.replicaHasPoints(ctx) {
		// An initial copy committed whose acknowledgement was lost before
		// a restart: protect anew, as the operator does.
		s.protectAnew(ctx)
		for range 4 {
			if err = s.attempt(ctx, nil, false); err == nil || s.fail != nil {
				break
			}
		}
	}
	if err != nil && errors.Is(err, replica.ErrNoReplicaPoint) && !s.c.cfg.Strict {
		// Wedged (see TestResyncBeforeInitialWedges): protect anew.
		clear(s.verified)
		clear(s.extVerified)
		s.chain, s.extChain, s.lastFailed, s.extend = nil, nil, false, nil
		for range 4 {
			if err = s.c.Protect(ctx); err == nil {
				break
			}
		}
		for range 4 {
			if err = s.attempt(ctx, nil, false); err == nil || s.fail != nil {
				break
			}
		}
	}
	if s.fail != nil {
		return
	}
	if err != nil {
		state := replica.StateNone
		if s.c.rel != nil {
			state = s.c.rel.State()
		}
		s.failf("converge", "with the network healed, replication does not resume (state %s): %v", state, err)
		return
	}
	g := s.group(ctx)
	if g == nil {
		s.failf("converge", "the replica has no group %s", s.c.GroupID())
		return
	}
	latest, err := g.Latest(ctx)
	if err != nil {
		s.failf("converge", "latest point: %v", err)
		return
	}
	img, err := readPoint(ctx, g, latest.ID)
	if now := s.c.Image(); err != nil || !equalImages(img, now) {
		s.failf("converge", "the replica's latest point %s is not the primary's image (%v): %v", latest.ID, err, diffBlocks(now, img, s.c.cfg.BlockSize))
		return
	}
	s.checkChain(ctx)
	if s.fail != nil || s.extend == nil {
		return
	}
	// The extended replica catches up too.
	for range 4 {
		if err = s.forward(ctx); err == nil || s.fail != nil {
			break
		}
	}
	if s.fail != nil {
		return
	}
	if err != nil {
		s.failf("converge", "with the network healed, forwarding does not resume: %v", err)
		return
	}
	eg, err := s.c.ext.store.Group(ctx, s.c.GroupID())
	if err != nil {
		s.failf("converge", "the extended replica has no group %s: %v", s.c.GroupID(), err)
		return
	}
	elatest, err := eg.Latest(ctx)
	if err != nil || elatest.ID != latest.ID {
		s.failf("converge", "the extended replica's latest is %s (%v), the replica's %s", elatest.ID, err, latest.ID)
		return
	}
	s.checkChain(ctx)
}
