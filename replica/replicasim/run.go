package replicasim

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/blockrep/blockrep/checkpoint"
	"github.com/blockrep/blockrep/delta"
	"github.com/blockrep/blockrep/replica"
	"github.com/blockrep/blockrep/transport/memory"
)

// Run runs steps on a new Cluster made for cfg, checks the invariants after
// every step, then heals everything and checks that replication converges.
// It returns the first failed check (nil when all held) and stops there.
// The error is for a cluster that could not be set up, or ctx's error.
func Run(ctx context.Context, cfg Config, steps []Step) (*Failure, error) {
	c, err := NewCluster(ctx, cfg)
	if err != nil {
		return nil, err
	}
	s := &sim{c: c, m: newModel(), steps: steps, gid: c.GroupID(), verified: map[delta.PointID]bool{}, extVerified: map[delta.PointID]bool{}, seen: map[delta.PointID]bool{}}
	s.run(ctx)
	if err := c.Close(); err != nil {
		s.failf("clean-shutdown", "closing the cluster: %v", err)
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return s.fail, nil
}

// sim runs one schedule on one cluster.
type sim struct {
	c     *Cluster
	m     *model
	steps []Step
	step  int
	fail  *Failure

	verified map[delta.PointID]bool // points of the current group found equal to the model
	chain    []checkpoint.Point     // the chain at the last check
	tf       *replica.TestFailover
	fo       *failoverRun

	extend      *replica.ExtendConfig  // the current group's extension, if Extend succeeded
	extVerified map[delta.PointID]bool // points of the extended replica found equal to the model
	extChain    []checkpoint.Point     // the extended chain at the last check
	extReset    bool                   // the extension was stopped and started anew: its pins went with it
	seen        map[delta.PointID]bool // every point the replica's chain held at a check, or acknowledged

	gid        string        // the group the per-group state below is about
	lastFailed bool          // the last replication attempt failed
	acked      delta.PointID // the point the last successful attempt acknowledged
	crashArmed bool          // a crash point is set on the replica's filesystem
	settling   bool          // the final convergence runs: its check judges the attempts
	fwd, back  memory.Faults // frame faults primary→replica, replica→primary

	// check, when set, names what a point found unequal to the model
	// after this step proves wrong (the step re-verifies every point).
	check string
}

// failoverRun is an unplanned failover in progress and what the simulation
// expects of it.
type failoverRun struct {
	f     *replica.Failover
	img   [][]byte           // the point's image with the writes made to the failover since
	chain []checkpoint.Point // the chain when it started
}

func (s *sim) failf(check, format string, args ...any) {
	if s.fail != nil {
		return
	}
	s.fail = &Failure{Seed: s.c.cfg.Seed, Step: s.step, Check: check, Detail: fmt.Sprintf(format, args...), Schedule: s.steps}
}

func (s *sim) run(ctx context.Context) {
	for i, st := range s.steps {
		s.step = i
		sctx, cancel := context.WithTimeout(ctx, s.c.cfg.StepTimeout)
		s.exec(sctx, st)
		if ctx.Err() != nil {
			cancel()
			return
		}
		if errors.Is(sctx.Err(), context.DeadlineExceeded) {
			s.failf("liveness", "the step did not finish within %v", s.c.cfg.StepTimeout)
		}
		cancel()
		if s.fail == nil {
			s.afterStep(ctx)
		}
		if s.fail != nil {
			return
		}
	}
	s.step = len(s.steps)
	sctx, cancel := context.WithTimeout(ctx, s.c.cfg.StepTimeout)
	defer cancel()
	s.settle(sctx)
	if s.fail == nil && errors.Is(sctx.Err(), context.DeadlineExceeded) {
		s.failf("liveness", "convergence did not finish within %v", s.c.cfg.StepTimeout)
	}
}

// afterStep restarts a primary whose filesystem crashed, then checks the
// chain.
func (s *sim) afterStep(ctx context.Context) {
	if s.c.pfs.Crashed() {
		if err := s.c.CrashPrimary(ctx, 0, false); err != nil && !transient(err) {
			s.failf("primary-restart", "restarting the primary after its crash: %v", err)
			return
		}
	}
	s.syncGroup()
	s.checkChain(ctx)
	s.check = ""
}

// syncGroup forgets what the simulation tracks of a group once the primary
// moved on to another (Enable found the old one holding points on the
// replica after a restart, or the volumes were protected anew).
func (s *sim) syncGroup() {
	if gid := s.c.GroupID(); gid != s.gid {
		s.gid = gid
		s.tf, s.fo, s.extend = nil, nil, nil
		s.chain, s.extChain, s.lastFailed = nil, nil, false
		clear(s.verified)
		clear(s.extVerified)
	}
}

// group returns the replica store's current group, or nil when the replica
// does not hold it.
func (s *sim) group(ctx context.Context) checkpoint.Group {
	g, err := s.c.rep.store.Group(ctx, s.c.GroupID())
	if errors.Is(err, checkpoint.ErrUnknownGroup) {
		return nil
	}
	if err != nil {
		s.failf("store-opens-committed", "opening group %s: %v", s.c.GroupID(), err)
		return nil
	}
	return g
}

// checkChain checks every point of the current group's chain not checked
// yet against the model, and that pinned points are in the chain.
func (s *sim) checkChain(ctx context.Context) {
	g := s.group(ctx)
	if g == nil {
		return
	}
	pts, err := g.Points(ctx)
	if err != nil {
		s.failf("store-opens-committed", "listing the points of %s: %v", g.ID(), err)
		return
	}
	have := map[delta.PointID]bool{}
	for _, p := range pts {
		have[p.ID] = true
	}
	for _, p := range s.chain {
		if !have[p.ID] {
			// A prune merged undo logs: every older point is read anew.
			clear(s.verified)
			break
		}
	}
	if s.check != "" {
		clear(s.verified)
	}
	for _, p := range pts {
		if s.verified[p.ID] {
			continue
		}
		if !s.verifyPoint(ctx, g, p) {
			return
		}
		s.verified[p.ID] = true
	}
	pins, err := g.Pins(ctx)
	if err != nil {
		s.failf("pinned-point-kept", "listing pins: %v", err)
		return
	}
	for _, pin := range pins {
		if !have[pin.Point] {
			s.failf("pinned-point-kept", "point %s pinned by %s is not in the chain", pin.Point, pin.Holder)
			return
		}
	}
	if s.tf != nil && !have[s.tf.Point().ID] {
		s.failf("pinned-point-kept", "the test failover's point %s was pruned", s.tf.Point().ID)
		return
	}
	if s.fo != nil && !have[s.fo.f.Point().ID] {
		s.failf("pinned-point-kept", "the failover's point %s was pruned", s.fo.f.Point().ID)
		return
	}
	s.chain = pts
	for _, p := range pts {
		s.seen[p.ID] = true
	}
	if !s.checkExtended(ctx) {
		return
	}
	oldest := time.Time{}
	if len(pts) > 0 {
		oldest = pts[0].Time
	}
	if len(s.extChain) > 0 && (oldest.IsZero() || s.extChain[0].Time.Before(oldest)) {
		oldest = s.extChain[0].Time
	}
	if !oldest.IsZero() {
		s.m.forget(g.ID(), oldest)
	}
}

// checkExtended checks the extended replica's chain of the current group:
// its points are points the replica had, in the same order, each equal to
// the primary's image at its freeze.
func (s *sim) checkExtended(ctx context.Context) bool {
	g, err := s.c.ext.store.Group(ctx, s.c.GroupID())
	if errors.Is(err, checkpoint.ErrUnknownGroup) {
		return true
	}
	if err != nil {
		s.failf("store-opens-committed", "opening group %s on the extended replica: %v", s.c.GroupID(), err)
		return false
	}
	pts, err := g.Points(ctx)
	if err != nil {
		s.failf("store-opens-committed", "listing the extended replica's points: %v", err)
		return false
	}
	have := map[delta.PointID]bool{}
	for _, p := range pts {
		have[p.ID] = true
	}
	for _, p := range s.extChain {
		if !have[p.ID] {
			clear(s.extVerified)
			break
		}
	}
	for i, p := range pts {
		if !s.seen[p.ID] {
			s.failf("extended-subsequence", "the extended replica's point %s (time %s) is no point the replica had", p.ID, p.Time.Format(time.TimeOnly))
			return false
		}
		if i > 0 && !pts[i-1].Time.Before(p.Time) {
			s.failf("extended-subsequence", "the extended replica's points %s and %s are out of order", pts[i-1].ID, p.ID)
			return false
		}
		if s.extVerified[p.ID] {
			continue
		}
		fr := s.m.lookup(g.ID(), p.Time)
		if fr == nil {
			s.failf("extended-subsequence", "the extended replica's point %s (time %s, base %s) is no freeze the primary made (the replica's chain: %s)",
				p.ID, p.Time.Format(time.TimeOnly), p.Base, pointTimes(s.chain))
			return false
		}
		img, err := readPoint(ctx, g, p.ID)
		if errors.Is(err, checkpoint.ErrUnknownPoint) && !s.inChain(ctx, g, p.ID) {
			continue // pruned since it was listed
		}
		if err != nil {
			s.failf("point-readable", "reading point %s on the extended replica: %v", p.ID, err)
			return false
		}
		if !fr.match(img) {
			s.failf("extended-equals-replica", "the extended replica's point %s (freeze %s) differs from the primary's image: %v",
				p.ID, p.Time.Format(time.TimeOnly), diffBlocks(fr.images[len(fr.images)-1], img, s.c.cfg.BlockSize))
			return false
		}
		s.extVerified[p.ID] = true
	}
	s.extChain = pts
	// Strict only: see TestInDoubtForwardUnpinned.
	if s.c.cfg.Strict && len(pts) > 0 && s.extend != nil && !s.extReset && !s.inChain(ctx, s.group(ctx), pts[len(pts)-1].ID) &&
		s.extLatestIs(ctx, g, pts[len(pts)-1].ID) {
		// (The extension forwards in the background: a forward that
		// committed a newer point on the extended replica after pts was
		// listed may rightly have released the older one. Only a latest
		// point that stayed latest while the replica's chain was read
		// counts.)
		s.failf("downstream-point-kept", "the extended replica is at %s (time %s), which the replica no longer has (its chain: %s)",
			pts[len(pts)-1].ID, pts[len(pts)-1].Time.Format(time.TimeOnly), pointTimes(s.chain))
		return false
	}
	return true
}

// verifyPoint compares point p with the model's images of its freeze.
func (s *sim) verifyPoint(ctx context.Context, g checkpoint.Group, p checkpoint.Point) bool {
	fr := s.m.lookup(g.ID(), p.Time)
	if fr == nil {
		s.failf("point-known", "point %s of %s (time %s) is no freeze the primary made", p.ID, g.ID(), p.Time)
		return false
	}
	img, err := readPoint(ctx, g, p.ID)
	if errors.Is(err, checkpoint.ErrUnknownPoint) && !s.inChain(ctx, g, p.ID) {
		return true // pruned since it was listed (a forward running on its own unpinned it)
	}
	if err != nil {
		s.failf("point-readable", "reading point %s of %s: %v", p.ID, g.ID(), err)
		return false
	}
	if fr.match(img) {
		return true
	}
	name := s.check
	switch {
	case name != "":
	case fr.corrupt:
		name = "corrupt-frame-refused"
	case fr.afterFailure:
		name = "failed-cycle-lost-nothing"
	default:
		name = "point-equals-image"
	}
	s.failf(name, "point %s of %s (freeze %s, %d candidate images) differs from the primary's image: %v",
		p.ID, g.ID(), p.Time.Format(time.TimeOnly), len(fr.images), diffBlocks(fr.images[len(fr.images)-1], img, s.c.cfg.BlockSize))
	return false
}

func pointTimes(pts []checkpoint.Point) string {
	var b []byte
	for _, p := range pts {
		b = append(b, p.ID.String()[:8]...)
		b = append(b, '@')
		b = append(b, p.Time.Format(time.TimeOnly)...)
		b = append(b, ' ')
	}
	return string(b)
}

// inChain reports whether id is in g's chain now.
// extLatestIs reports whether the extended replica's latest point is still
// id (true when it cannot tell).
func (s *sim) extLatestIs(ctx context.Context, ext checkpoint.Group, id delta.PointID) bool {
	p, err := ext.Latest(ctx)
	if err != nil {
		return true
	}
	return p.ID == id
}

func (s *sim) inChain(ctx context.Context, g checkpoint.Group, id delta.PointID) bool {
	if g == nil {
		return true // no group to tell
	}
	pts, err := g.Points(ctx)
	if err != nil {
		return true
	}
	for _, p := range pts {
		if p.ID == id {
			return true
		}
	}
	return false
}

// readPoint reads every volume of point id.
func readPoint(ctx context.Context, g checkpoint.Group, id delta.PointID) ([][]byte, error) {
	view, err := g.OpenPoint(ctx, id)
	if err != nil {
		return nil, err
	}
	defer view.Close()
	vols := view.Volumes()
	img := make([][]byte, len(vols))
	for i, v := range vols {
		img[i] = make([]byte, v.Size())
		if err := readFull(v, img[i]); err != nil {
			return nil, err
		}
	}
	return img, nil
}

func readVolumes(vols []checkpoint.VolumeReadWriter) ([][]byte, error) {
	img := make([][]byte, len(vols))
	for i, v := range vols {
		img[i] = make([]byte, v.Size())
		if err := readFull(v, img[i]); err != nil {
			return nil, err
		}
	}
	return img, nil
}

func readFull(r interface {
	ReadAt([]byte, int64) (int, error)
}, p []byte) error {
	n, err := r.ReadAt(p, 0)
	if n == len(p) {
		return nil
	}
	if err == nil {
		err = fmt.Errorf("short read: %d of %d bytes", n, len(p))
	}
	return err
}

// transient reports whether err is one the faults the simulation injects
// explain: a lost or refused connection, a refusal by the replica, a state
// that does not allow the operation.
func transient(err error) bool {
	var re *replica.RemoteError
	return errors.As(err, &re) || errors.Is(err, replica.ErrInvalidState) || isNetwork(err)
}
