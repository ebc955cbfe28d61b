package replicasim

import (
	"context"
	"errors"
	"io"
	"math/rand/v2"
	"sync"
	"time"

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
		if !s.c.cfg.CorruptStreamOnly {
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
		case state == replica.InitialReplicationPending && s.replicaHasPoints(ctx):
			// The replica committed an initial copy whose acknowledgement
			// was lost before the primary restarted: a full copy from no
			// base cannot apply, and the operator protects anew.
			s.protectAnew(ctx)
		case !resync && (state == replica.Replicating || state == replica.InitialReplicationPending) &&
			after == replica.ResynchronizationRequired && !errors.Is(err, delta.ErrTrackingLost):
			if s.c.cfg.Strict {
				s.failf("needless-resync", "a cycle left the relationship %s although tracking was not lost: %v", after, err)
			}
		case !transient(err) && !s.c.pfs.Crashed() && !s.c.rep.fs.Crashed() && ctx.Err() == nil && !s.corrupting() && !s.settling:
			// (A corrupted frame may fail an attempt in many ways; what
			// it must never do is reach a volume, which the chain checks.)
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

// isNetwork reports whether err is the network's doing.
func isNetwork(err error) bool {
	return transport.IsTemporary(err) || errors.Is(err, io.EOF) || errors.Is(err, transport.ErrClosed) ||
		errors.Is(err, replica.ErrProtocol) || errors.Is(err, replica.ErrCycleTimeout) ||
		errors.Is(err, delta.ErrCorrupt) || errors.Is(err, context.Canceled)
}

// replicaHasPoints reports whether the replica holds points of the group.
func (s *sim) replicaHasPoints(ctx context.Context) bool {
	g := s.group(ctx)
	if g == nil {
		return false
	}
	_, err := g.Latest(ctx)
	return err == nil
}

// protectAnew does what an operator does with a relationship that cannot
// go on: it protects the volumes anew, as another group.
func (s *sim) protectAnew(ctx context.Context) {
	err := s.c.Protect(ctx)
	s.syncGroup()
	if err != nil && !transient(err) && !s.c.pfs.Crashed() && !s.c.rep.fs.Crashed() {
		s.failf("primary-op", "protecting anew: %v", err)
	}
}
