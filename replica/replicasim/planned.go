package replicasim

import (
	"context"
	"errors"
	"math/rand/v2"
	"time"

	"github.com/blockrep/blockrep/checkpoint/vfs"
	"github.com/blockrep/blockrep/replica"
	"github.com/blockrep/blockrep/transport/memory"
)

// The old primary's replica host, for reverse replication.
const (
	oldPrimaryAddress = "primary:1"
)

// plannedRound hands the group over to the replica and back:
//
//  1. PlannedFailover under the faults in force; when it fails, the network
//     is healed and it is called again (a lost promotion acknowledgement is
//     completed that way). The final point must be the primary's image
//     (nothing lost) and writes must be refused.
//  2. Demote stores the group in a replica host on the primary's side;
//     Reverse makes the replica its primary; its cycles must leave the old
//     primary's latest point equal to the new primary's image, before and
//     after writes there.
//  3. The volumes take the new primary's image and are protected anew.
func (s *sim) plannedRound(ctx context.Context, r *rand.Rand) {
	rel := s.c.rel
	if rel == nil || rel.State() != replica.Replicating || s.tf != nil || s.fo != nil || s.c.pfs.Crashed() {
		return
	}
	s.c.pfs.CrashAt(-1) // the round is about the network and the handover, not the tracker's disk
	gid := s.c.GroupID()
	s.c.clock.Advance(time.Second)
	at := s.c.clock.Now()
	s.m.add(gid, at, &freeze{images: [][][]byte{s.c.Image()}, afterFailure: s.lastFailed, corrupt: s.corrupting()})
	res, err := rel.PlannedFailover(ctx)
	if err != nil {
		s.lastFailed = true
		if st := rel.State(); st != replica.Replicating && st != replica.ResynchronizationRequired {
			s.failf("planned-failover", "a failed planned failover left the relationship %s: %v", st, err)
			return
		}
		if _, werr := rel.Volume(0).WriteAt(nil, 0); errors.Is(werr, replica.ErrPreparedForFailover) {
			s.failf("planned-failover", "a failed planned failover left writes refused: %v", err)
			return
		}
		s.healAll()
		for range 3 {
			if res, err = rel.PlannedFailover(ctx); err == nil {
				break
			}
		}
		if err != nil {
			if rel.State() == replica.ResynchronizationRequired || transient(err) && !errors.Is(err, replica.ErrReplicaFailedOver) {
				return // a cycle will get there
			}
			s.failf("planned-failover", "with the network healed: %v", err)
			return
		}
	}
	s.lastFailed = false
	s.c.noteAck()
	s.seen[res.Point] = true
	if st := rel.State(); st != replica.PreparedForFailover {
		s.failf("planned-failover", "after the planned failover the relationship is %s", st)
		return
	}
	want := s.c.Image()
	g := s.group(ctx)
	if g == nil {
		return
	}
	latest, err := g.Latest(ctx)
	if err != nil || latest.ID != res.Point {
		s.failf("planned-failover-lossless", "the final point %s is not the replica's latest %s (%v)", res.Point, latest.ID, err)
		return
	}
	if img, err := readPoint(ctx, g, latest.ID); err != nil || !equalImages(img, want) {
		s.failf("planned-failover-lossless", "the final point %s is not the primary's image (%v): %v", latest.ID, err, diffBlocks(want, img, s.c.cfg.BlockSize))
		return
	}
	if _, err := rel.Volume(0).WriteAt([]byte{1}, 0); !errors.Is(err, replica.ErrPreparedForFailover) {
		s.failf("planned-failover", "a write after the planned failover gave %v, want ErrPreparedForFailover", err)
		return
	}
	s.checkChain(ctx)
	if s.fail != nil {
		return
	}
	s.healAll()
	s.reverseRound(ctx, r, gid)
}

// healAll lifts every partition and frame fault.
func (s *sim) healAll() {
	s.c.net.HealAll()
	s.fwd, s.back = memory.Faults{}, memory.Faults{}
	s.setFaults()
}

// reverseRound demotes the primary, reverses from the replica, checks
// reverse cycles, then protects the volumes anew with the reversed image.
func (s *sim) reverseRound(ctx context.Context, r *rand.Rand, gid string) {
	old, err := s.c.openSideOf(ctx, vfs.NewMem(), PrimaryName, oldPrimaryAddress, ReplicaName, s.c.ph)
	if err != nil {
		s.failf("reverse-identical", "starting the old primary's replica host: %v", err)
		return
	}
	defer old.close()
	if err := s.c.ph.Demote(ctx, gid, old.rh); err != nil {
		s.failf("reverse-identical", "demote: %v", err)
		return
	}
	s.c.rel = nil
	np, err := replica.NewPrimaryHost(replica.PrimaryConfig{Transport: s.c.net.Endpoint(ReplicaName), Clock: s.c.clock, Logger: s.c.log.With("host", "replica-primary"), Rand: s.c.ids, MaxIdle: -1})
	if err != nil {
		s.failf("reverse-identical", "new primary host: %v", err)
		return
	}
	defer np.Close()
	rev, err := s.c.rep.rh.Reverse(ctx, gid, np, replica.ReverseConfig{Replica: oldPrimaryAddress})
	if err != nil {
		s.failf("reverse-identical", "reverse: %v", err)
		return
	}
	var img [][]byte
	for round := range 2 {
		if round == 1 {
			for range 1 + r.IntN(4) {
				vol, off, p := s.randomWrite(r)
				if _, err := rev.Volume(vol).WriteAt(p, off); err != nil {
					s.failf("reverse-identical", "writing to the reversed volume: %v", err)
					return
				}
			}
		}
		s.c.clock.Advance(time.Second)
		if _, err := rev.Cycle(ctx); err != nil {
			s.failf("reverse-identical", "reverse cycle %d: %v", round, err)
			return
		}
		if img, err = readRelationship(rev, s.c.cfg.VolumeSize); err != nil {
			s.failf("reverse-identical", "reading the reversed volumes: %v", err)
			return
		}
		og, err := old.store.Group(ctx, gid)
		if err != nil {
			s.failf("reverse-identical", "the old primary's group: %v", err)
			return
		}
		latest, err := og.Latest(ctx)
		if err != nil {
			s.failf("reverse-identical", "the old primary's latest point: %v", err)
			return
		}
		got, err := readPoint(ctx, og, latest.ID)
		if err != nil || !equalImages(got, img) {
			s.failf("reverse-identical", "after reverse cycle %d the old primary's point %s is not the new primary's image (%v): %v",
				round, latest.ID, err, diffBlocks(img, got, s.c.cfg.BlockSize))
			return
		}
	}
	// The volumes take the reversed side's image and are protected anew.
	for i, v := range s.c.vols {
		if _, err := v.WriteAt(img[i], 0); err != nil {
			s.failf("reverse-identical", "copying the image back: %v", err)
			return
		}
	}
	clear(s.verified)
	clear(s.extVerified)
	s.chain, s.extChain, s.lastFailed, s.extend = nil, nil, false, nil
	if err := s.c.Protect(ctx); err != nil && !transient(err) {
		s.failf("primary-op", "protecting anew after the reverse: %v", err)
	}
}

// readRelationship reads every volume of a relationship.
func readRelationship(rel *replica.Relationship, size int64) ([][]byte, error) {
	img := make([][]byte, rel.Volumes())
	for i := range img {
		img[i] = make([]byte, size)
		if err := readFull(rel.Volume(i), img[i]); err != nil {
			return nil, err
		}
	}
	return img, nil
}
