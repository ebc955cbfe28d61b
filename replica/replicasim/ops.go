package replicasim

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/blockrep/blockrep/checkpoint"
	"github.com/blockrep/blockrep/delta"
	"github.com/blockrep/blockrep/replica"
	"github.com/blockrep/blockrep/transport"
	"github.com/blockrep/blockrep/transport/memory"
)

// exec runs one step.
func (s *sim) exec(ctx context.Context, st Step) {
	r := rand.New(rand.NewPCG(st.Arg, uint64(st.Op)))
	switch st.Op {
	case OpWrite:
		s.hostWrite(r)
	case OpBurst:
		for range 2 + r.IntN(8) {
			s.hostWrite(r)
		}
	case OpOverwrite:
		s.overwrite(r)
	case OpCycle:
		s.attempt(ctx, nil, false)
	case OpCycleWriting:
		s.cycleWriting(ctx, r)
	case OpAdvance:
		s.c.clock.Advance(time.Second + time.Duration(r.Int64N(int64(30*time.Minute))))
	case OpPartition:
		s.c.net.Partition(PrimaryName, ReplicaName)
	case OpHeal:
		s.c.net.HealAll()
	case OpCut:
		n := 1 + r.Int64N(2*s.c.cfg.VolumeSize)
		if r.IntN(3) == 0 {
			s.back.CutAfter = n
		} else {
			s.fwd.CutAfter = n
		}
		s.setFaults()
	case OpDuplicate:
		f := s.pickFaults(r)
		f.Duplicate = 0.01 + 0.2*r.Float64()
		if f.Hook != nil {
			f.Hook = streamCorrupter(r.Uint64(), f.Corrupt, f.Duplicate)
		}
		s.setFaults()
	case OpCorrupt:
		if s.c.cfg.CorruptControl {
			s.pickFaults(r).Corrupt = 0.01 + 0.2*r.Float64()
		} else {
			p := 0.01 + 0.2*r.Float64()
			s.fwd.Corrupt = p
			s.fwd.Hook = streamCorrupter(r.Uint64(), p, s.fwd.Duplicate)
		}
		s.setFaults()
	case OpDelay:
		s.pickFaults(r).Delay = time.Millisecond
		s.setFaults()
	case OpClearFaults:
		s.fwd, s.back = memory.Faults{}, memory.Faults{}
		s.setFaults()
	case OpCrashReplica:
		s.crashReplica(ctx, r)
	case OpCrashPrimary:
		s.crashPrimary(ctx, r)
	case OpSuspend:
		if s.c.rel != nil {
			s.primaryOp("suspend", s.c.rel.Suspend(ctx))
		}
	case OpResume:
		if s.c.rel != nil {
			s.primaryOp("resume", s.c.rel.Resume(ctx))
		}
	case OpTestFailover:
		s.testFailover(ctx, r)
	case OpStopTestFailover:
		s.stopTestFailover(ctx)
	case OpFailover:
		s.failover(ctx, r)
	case OpCancelFailover:
		s.cancelFailover(ctx)
	case OpCompleteFailover:
		s.completeFailover(ctx)
	case OpResync:
		if s.c.rel != nil {
			s.attempt(ctx, nil, true)
		}
	case OpExtend:
		s.extendGroup(ctx, r)
	case OpForward:
		s.forward(ctx)
	case OpCrashExtended:
		torn := r.IntN(3) == 0
		if err := s.c.CrashExtended(ctx, r.Uint64(), torn); err != nil {
			s.failf("store-opens-committed", "restarting the extended replica (torn %t): %v", torn, err)
		}
		clear(s.extVerified)
	case OpPartitionExtended:
		s.c.net.Partition(ReplicaName, ExtendedName)
	case OpPlannedRound:
		s.plannedRound(ctx, r)
	case OpPrune:
		if g := s.group(ctx); g != nil {
			if _, err := g.Prune(ctx); err != nil {
				s.failf("replica-op", "prune: %v", err)
			}
			clear(s.verified)
		}
	}
}

func (s *sim) pickFaults(r *rand.Rand) *memory.Faults {
	if r.IntN(3) == 0 {
		return &s.back
	}
	return &s.fwd
}

func (s *sim) setFaults() {
	s.c.net.SetFaults(PrimaryName, ReplicaName, s.fwd)
	s.c.net.SetFaults(ReplicaName, PrimaryName, s.back)
}

// streamCorrupter returns a memory.Faults hook that corrupts, with
// probability corrupt, only frames longer than 256 bytes — the chunks of a
// delta stream, which the stream's checksums must catch — and duplicates
// any frame with probability dup.
func streamCorrupter(seed uint64, corrupt, dup float64) func(memory.FrameInfo) memory.Action {
	var mu sync.Mutex
	r := rand.New(rand.NewPCG(seed, 0xbad))
	return func(fi memory.FrameInfo) memory.Action {
		mu.Lock()
		defer mu.Unlock()
		x := r.Float64()
		switch {
		case x < dup:
			return memory.Duplicate
		case fi.Len > 256 && x < dup+corrupt:
			return memory.Corrupt
		}
		return memory.Deliver
	}
}

func (s *sim) corrupting() bool { return s.fwd.Corrupt > 0 || s.back.Corrupt > 0 }

// randomWrite draws one write: a volume, an offset and bytes (random, or
// zeros one time in eight, so that zero blocks are sent too).
func (s *sim) randomWrite(r *rand.Rand) (vol int, off int64, p []byte) {
	bs := int64(s.c.cfg.BlockSize)
	size := s.c.cfg.VolumeSize
	vol = r.IntN(len(s.c.vols))
	n := 1 + r.Int64N(3*bs)
	if r.IntN(2) == 0 { // whole blocks
		n = bs * (1 + r.Int64N(3))
		off = bs * r.Int64N(size/bs-n/bs+1)
	} else {
		off = r.Int64N(size - n + 1)
	}
	p = make([]byte, n)
	if r.IntN(8) != 0 {
		fillRandom(r, p)
	}
	return vol, off, p
}

func fillRandom(r *rand.Rand, p []byte) {
	for i := range p {
		p[i] = byte(r.Uint32())
	}
}

func (s *sim) hostWrite(r *rand.Rand) {
	vol, off, p := s.randomWrite(r)
	s.write(vol, off, p)
}

func (s *sim) write(vol int, off int64, p []byte) {
	if _, err := s.c.Volume(vol).WriteAt(p, off); err != nil && !s.c.pfs.Crashed() {
		s.failf("host-write", "write of %d bytes at %d of volume %d: %v", len(p), off, vol, err)
	}
}

// overwrite writes one block several times, whole or in part.
func (s *sim) overwrite(r *rand.Rand) {
	bs := int64(s.c.cfg.BlockSize)
	vol := r.IntN(len(s.c.vols))
	blk := r.Int64N(s.c.cfg.VolumeSize / bs)
	for range 2 + r.IntN(4) {
		n := bs
		var at int64
		if r.IntN(2) == 0 {
			n = 1 + r.Int64N(bs)
			at = r.Int64N(bs - n + 1)
		}
		p := make([]byte, n)
		fillRandom(r, p)
		s.write(vol, blk*bs+at, p)
	}
}

// attempt runs the replication attempt the relationship's state calls for
// (a resynchronization when resync is set), recording the image at its
// freeze instant in the model first. writer, when set, writes while the
// attempt runs and returns the image after each of its writes.
func (s *sim) attempt(ctx context.Context, writer func() [][][]byte, resync bool) error {
	if s.c.rel == nil {
		err := s.c.Enable(ctx)
		s.syncGroup() // Enable may have moved on to the next generation
		if err != nil {
			if !transient(err) && !s.c.pfs.Crashed() && !s.c.rep.fs.Crashed() {
				s.failf("primary-op", "enable: %v", err)
			}
			return err
		}
	}
	rel := s.c.rel
	s.c.clock.Advance(time.Second) // every attempt freezes at an instant of its own
	at := s.c.clock.Now()
	fr := &freeze{images: [][][]byte{s.c.Image()}, afterFailure: s.lastFailed, corrupt: s.corrupting()}
	s.m.add(s.c.GroupID(), at, fr)

	var more chan [][][]byte
	if writer != nil {
		more = make(chan [][][]byte, 1)
		go func() { more <- writer() }()
	}
	var point delta.PointID
	var err error
	state := rel.State()
	switch {
	case resync:
		var res replica.ResyncResult
		res, err = rel.Resynchronize(ctx)
		point = res.Point
	case state == replica.InitialReplicationPending:
		var res replica.CycleResult
		res, err = rel.InitialReplication(ctx)
		point = res.Point
	case state == replica.ResynchronizationRequired:
		var res replica.ResyncResult
		res, err = rel.Resynchronize(ctx)
		point = res.Point
	default:
		var res replica.CycleResult
		res, err = rel.Cycle(ctx)
		point = res.Point
	}
	if more != nil {
		fr.images = append(fr.images, <-more...)
	}
	s.lastFailed = err != nil
	if err != nil {
		after := rel.State()
		switch {
		case errors.Is(err, replica.ErrResyncMismatch):
			s.failf("resync-identical", "%v", err)
		case errors.Is(err, replica.ErrNoReplicaPoint):
		case (state == replica.Replicating || state == replica.InitialReplicationPending) &&
			after == replica.ResynchronizationRequired && !errors.Is(err, delta.ErrTrackingLost):
			if s.c.cfg.Strict {
				s.failf("needless-resync", "a cycle left the relationship %s although tracking was not lost: %v", after, err)
			}
		case !transient(err) && !s.c.pfs.Crashed() && !s.c.rep.fs.Crashed() && ctx.Err() == nil && !s.corrupting() && !s.settling:
			// (Control messages carry no checksum of their own, so a
			// corrupted frame may fail an attempt in any way; what it
			// must never do is reach a volume, which the chain checks.)
			s.failf("primary-op", "attempt in state %s: %v", state, err)
		}
		return err
	}
	s.c.noteAck()
	s.seen[point] = true
	s.acked = point
	if s.crashArmed || s.c.rep.fs.Crashed() {
		// A crash point is set: reading back here would count against it.
		// The restart checks the acknowledged point survived.
		return nil
	}
	g := s.group(ctx)
	if g == nil {
		s.failf("acked-point-committed", "point %s was acknowledged but the replica has no group %s", point, s.c.GroupID())
		return nil
	}
	latest, lerr := g.Latest(ctx)
	if lerr != nil || latest.ID != point {
		s.failf("acked-point-committed", "point %s was acknowledged; the replica's latest is %s (%v)", point, latest.ID, lerr)
		return nil
	}
	if resync || state == replica.ResynchronizationRequired {
		img, err := readPoint(ctx, g, point)
		if err != nil {
			s.failf("point-readable", "reading point %s: %v", point, err)
		} else if now := s.c.Image(); !equalImages(img, now) {
			s.failf("resync-identical", "after resynchronization the replica's point %s differs from the primary: %v", point, diffBlocks(now, img, s.c.cfg.BlockSize))
		}
	}
	return nil
}

// cycleWriting runs a cycle while a goroutine writes through the
// relationship; the point must equal the image after some prefix of those
// writes.
func (s *sim) cycleWriting(ctx context.Context, r *rand.Rand) {
	if s.c.rel == nil || s.c.rel.State() != replica.Replicating {
		s.attempt(ctx, nil, false)
		return
	}
	type w struct {
		vol int
		off int64
		p   []byte
	}
	var ws []w
	for range 1 + r.IntN(6) {
		vol, off, p := s.randomWrite(r)
		ws = append(ws, w{vol, off, p})
	}
	rel := s.c.rel
	s.attempt(ctx, func() [][][]byte {
		var imgs [][][]byte
		for _, x := range ws {
			if _, err := rel.Volume(x.vol).WriteAt(x.p, x.off); err != nil {
				break // the tracker's filesystem crashed: the write did not happen
			}
			imgs = append(imgs, s.c.Image())
		}
		return imgs
	}, false)
}

func (s *sim) primaryOp(op string, err error) {
	if err != nil && !transient(err) && !s.c.pfs.Crashed() {
		s.failf("primary-op", "%s: %v", op, err)
	}
}

// replicaOp reports whether err is a refusal the replica's state explains;
// any other error fails the "replica-op" check.
func (s *sim) replicaOp(op string, err error) bool {
	if err == nil {
		return true
	}
	switch {
	case errors.Is(err, replica.ErrInvalidState), errors.Is(err, replica.ErrTestFailoverRunning),
		errors.Is(err, replica.ErrNoRecoveryPoint), errors.Is(err, replica.ErrUnknownGroup):
	case s.c.rep.fs.Crashed():
	default:
		s.failf("replica-op", "%s: %v", op, err)
	}
	return false
}

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
		pts, err := g.Points(ctx)
		if err != nil || len(pts) == 0 {
			s.failf("complete-failover-image", "after completing, the chain is %v (%v), want one point", pointIDs(pts), err)
			return
		}
		if len(pts) != 1 && !crashed && (s.c.cfg.Strict || !s.allPinned(ctx, g, pts[:len(pts)-1])) {
			// Not strict: a test failover's pin left by a restart of the
			// replica keeps its point (see TestStalePinSurvivesCompleteFailover).
			s.failf("complete-failover-image", "after completing, the chain is %v, want one point", pointIDs(pts))
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

// allPinned reports whether every point of pts is pinned.
func (s *sim) allPinned(ctx context.Context, g checkpoint.Group, pts []checkpoint.Point) bool {
	pins, err := g.Pins(ctx)
	if err != nil {
		return false
	}
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

// isNetwork reports whether err is the network's doing.
func isNetwork(err error) bool {
	return transport.IsTemporary(err) || errors.Is(err, io.EOF) || errors.Is(err, transport.ErrClosed) ||
		errors.Is(err, replica.ErrProtocol) || errors.Is(err, replica.ErrCycleTimeout) ||
		errors.Is(err, delta.ErrCorrupt) || errors.Is(err, context.Canceled)
}

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
