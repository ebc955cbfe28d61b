package replica_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"math/rand/v2"
	"sync/atomic"
	"testing"
	"time"

	"github.com/blockrep/blockrep/checkpoint"
	"github.com/blockrep/blockrep/delta"
	"github.com/blockrep/blockrep/replica"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// failoverEnv is a replicating group whose primary images are recorded at
// every point, so that a failover's volumes can be checked byte for byte.
type failoverEnv struct {
	*env
	t     *testing.T
	rel   *replica.Relationship
	vols  []*memVolume
	rng   *rand.Rand
	snaps map[delta.PointID][][]byte
	app   map[delta.PointID]bool
}

// newFailoverEnv enables group vm1 (two volumes of size bytes, 5-minute
// cycles, an app-consistent point every 20 minutes, retention keeping
// additional points) and runs the initial replication.
func newFailoverEnv(t *testing.T, size int64, additional int, opts ...envOption) *failoverEnv {
	const seed = 20261125
	t.Logf("seed %d", seed)
	e := newEnv(t, opts...)
	cfg, vols := groupConfig("vm1", size, 2)
	cfg.Metadata = []byte("<vm name='vm1'/>")
	cfg.FailoverSettings = []byte("ip=10.0.0.9")
	cfg.Retention = checkpoint.Retention{Additional: additional, Spacing: time.Minute}
	cfg.AppConsistentInterval = 20 * time.Minute
	cfg.Quiesce = func(context.Context) (func(), error) { return func() {}, nil }
	rel, err := e.primary.Enable(e.ctx, cfg)
	require.NoError(t, err)
	f := &failoverEnv{env: e, t: t, rel: rel, vols: vols, rng: rand.New(rand.NewPCG(seed, 1)),
		snaps: make(map[delta.PointID][][]byte), app: make(map[delta.PointID]bool)}
	f.write(8)
	res, err := rel.InitialReplication(e.ctx)
	require.NoError(t, err)
	e.event()
	f.record(res)
	return f
}

// write makes n random writes through the primary's tracked volumes.
func (f *failoverEnv) write(n int) {
	for range n {
		v := f.rel.Volume(f.rng.IntN(len(f.vols)))
		b := make([]byte, 1+f.rng.IntN(9000))
		for i := range b {
			b[i] = byte(f.rng.Uint32())
		}
		_, err := v.WriteAt(b, f.rng.Int64N(int64(len(f.vols[0].data)-len(b))))
		require.NoError(f.t, err)
	}
}

func (f *failoverEnv) record(res replica.CycleResult) {
	var imgs [][]byte
	for _, v := range f.vols {
		imgs = append(imgs, v.snapshot())
	}
	f.snaps[res.Point] = imgs
	f.app[res.Point] = res.AppConsistent
}

// cycle writes, moves the clock 5 minutes and runs a cycle that must
// succeed; nothing writes during it, so the point is the image after it.
func (f *failoverEnv) cycle() replica.CycleResult {
	f.t.Helper()
	f.write(6)
	f.clk.Advance(replica.Frequency5m)
	res, err := f.rel.Cycle(f.ctx)
	require.NoError(f.t, err)
	require.NoError(f.t, f.event().Err)
	f.record(res)
	return res
}

// refusedCycle runs a cycle the replica must refuse and returns its error.
func (f *failoverEnv) refusedCycle() error {
	f.t.Helper()
	f.write(3)
	f.clk.Advance(replica.Frequency5m)
	_, err := f.rel.Cycle(f.ctx)
	require.Error(f.t, err)
	require.Error(f.t, f.event().Err)
	return err
}

// chain returns the replica's points and the images of each.
func (f *failoverEnv) chain() ([]checkpoint.Point, map[delta.PointID][][]byte) {
	pts := f.points("vm1")
	imgs := make(map[delta.PointID][][]byte)
	for _, p := range pts {
		imgs[p.ID] = f.pointImages("vm1", p.ID)
	}
	return pts, imgs
}

func (f *failoverEnv) state() replica.State {
	g, err := f.replica.Group(f.ctx, "vm1")
	require.NoError(f.t, err)
	return g.State
}

// pinsAndClones returns the group's pins and clones on the replica.
func (f *failoverEnv) pinsAndClones() ([]checkpoint.Pin, []string) {
	g, err := f.store.Group(f.ctx, "vm1")
	require.NoError(f.t, err)
	pins, err := g.Pins(f.ctx)
	require.NoError(f.t, err)
	clones, err := g.Clones(f.ctx)
	require.NoError(f.t, err)
	return pins, clones
}

// readImage reads every volume of a failover image.
func readImage(t *testing.T, vols []checkpoint.VolumeReadWriter) [][]byte {
	t.Helper()
	var out [][]byte
	for _, v := range vols {
		b := make([]byte, v.Size())
		_, err := v.ReadAt(b, 0)
		if errors.Is(err, io.EOF) {
			err = nil
		}
		require.NoError(t, err)
		out = append(out, b)
	}
	return out
}

// writeImage writes n random ranges to the image's volumes and to want, the
// copy of what the image must read.
func writeImage(t *testing.T, rng *rand.Rand, vols []checkpoint.VolumeReadWriter, want [][]byte, n int) {
	t.Helper()
	for range n {
		v := rng.IntN(len(vols))
		b := make([]byte, 1+rng.IntN(6000))
		for i := range b {
			b[i] = byte(rng.Uint32())
		}
		off := rng.Int64N(int64(len(want[v]) - len(b)))
		_, err := vols[v].WriteAt(b, off)
		require.NoError(t, err)
		copy(want[v][off:], b)
	}
}

func copyImage(imgs [][]byte) [][]byte {
	var out [][]byte
	for _, b := range imgs {
		out = append(out, bytes.Clone(b))
	}
	return out
}

// The story of an unplanned failover: fail over to an older point, work
// on it, cancel — the chain is exactly as before and replication resumes;
// fail over again to the latest app-consistent point, work, complete — the
// point with the work is the group's one point, and the old primary's
// deltas are refused.
func TestUnplannedFailoverCancelThenComplete(t *testing.T) {
	const size = 96 << 10
	f := newFailoverEnv(t, size, 20)
	var results []replica.CycleResult
	for range 5 { // 5 to 25 minutes, app-consistent at 20
		results = append(results, f.cycle())
	}
	before, beforeImgs := f.chain()
	require.Len(t, before, 6)

	// Fail over to an older point: its image, the primary's stored
	// metadata and failover settings.
	older := results[1].Point
	fo, err := f.replica.Failover(f.ctx, "vm1", replica.SelectPoint(older))
	require.NoError(t, err)
	assert.Equal(t, "vm1", fo.Group())
	assert.Equal(t, older, fo.Point().ID)
	assert.Equal(t, []byte("<vm name='vm1'/>"), fo.Metadata())
	assert.Equal(t, []byte("ip=10.0.0.9"), fo.FailoverSettings())
	assert.Equal(t, replica.FailedOverWaitingCompletion, f.state())
	require.Len(t, fo.Volumes(), 2)
	assert.Equal(t, "disk1", fo.Volumes()[1].ID())
	assert.Equal(t, int64(size), fo.Volumes()[1].Size())
	assert.Equal(t, f.snaps[older], readImage(t, fo.Volumes()), "the failover image is the primary's image at the point's freeze")

	want := copyImage(f.snaps[older])
	writeImage(t, f.rng, fo.Volumes(), want, 20)
	assert.Equal(t, want, readImage(t, fo.Volumes()))

	// While failed over, the old primary's deltas are refused with the
	// typed code and change nothing; a second failover or a test failover
	// is refused by the state.
	// The primary learns it from the Nack on a kept connection or from the
	// status of a fresh one (it redials after PrimaryConfig.MaxIdle); both
	// say the replica failed over.
	err = f.refusedCycle()
	require.ErrorIs(t, err, replica.ErrReplicaFailedOver)
	assert.ErrorIs(t, err, replica.ErrInvalidState)
	if remote := (*replica.RemoteError)(nil); errors.As(err, &remote) {
		assert.Equal(t, replica.CodeStateConflict, remote.Code)
	}
	_, err = f.replica.Failover(f.ctx, "vm1", replica.SelectLatest)
	assert.ErrorIs(t, err, replica.ErrInvalidState)
	_, err = f.replica.StartTestFailover(f.ctx, "vm1", replica.SelectLatest)
	assert.ErrorIs(t, err, replica.ErrInvalidState)
	assert.Equal(t, before, f.points("vm1"))

	// Cancel: the writes are gone, the chain is exactly as before.
	require.NoError(t, f.replica.CancelFailover(f.ctx, "vm1"))
	assert.Equal(t, replica.Replicating, f.state())
	_, err = fo.Volumes()[0].ReadAt(make([]byte, 10), 0)
	assert.ErrorIs(t, err, replica.ErrFailoverEnded)
	_, err = fo.Volumes()[0].WriteAt(make([]byte, 10), 0)
	assert.ErrorIs(t, err, replica.ErrFailoverEnded)
	after, afterImgs := f.chain()
	assert.Equal(t, before, after)
	assert.Equal(t, beforeImgs, afterImgs)
	for _, p := range before {
		if img, ok := f.snaps[p.ID]; ok {
			assert.Equal(t, img, afterImgs[p.ID], "point %s", p.ID)
		}
	}
	pins, clones := f.pinsAndClones()
	assert.Empty(t, pins)
	assert.Empty(t, clones)
	assert.ErrorIs(t, f.replica.CancelFailover(f.ctx, "vm1"), replica.ErrInvalidState)
	assert.ErrorIs(t, f.replica.CompleteFailover(f.ctx, "vm1"), replica.ErrInvalidState)

	// Replication resumes: the next cycle applies on the old latest point,
	// carrying the writes of the refused cycle too.
	res := f.cycle()
	assert.Equal(t, before[len(before)-1].ID, res.Base)
	assert.Equal(t, f.snaps[res.Point], f.pointImages("vm1", res.Point))
	assert.False(t, res.AppConsistent, "35 minutes: 15 after the app-consistent point at 20")
	appPoint := f.cycle() // 40 minutes
	require.True(t, appPoint.AppConsistent)
	last := f.cycle()
	require.False(t, last.AppConsistent)

	// Fail over to the latest app-consistent point, work, complete.
	fo, err = f.replica.Failover(f.ctx, "vm1", replica.SelectLatestAppConsistent)
	require.NoError(t, err)
	assert.Equal(t, appPoint.Point, fo.Point().ID)
	assert.Equal(t, delta.ConsistencyApp, fo.Point().Consistency)
	assert.Equal(t, f.snaps[appPoint.Point], readImage(t, fo.Volumes()))
	want = copyImage(f.snaps[appPoint.Point])
	writeImage(t, f.rng, fo.Volumes(), want, 25)
	require.NoError(t, f.replica.CompleteFailover(f.ctx, "vm1"))
	assert.Equal(t, replica.FailedOver, f.state())
	_, err = fo.Volumes()[1].ReadAt(make([]byte, 10), 0)
	assert.ErrorIs(t, err, replica.ErrFailoverEnded)

	pts := f.points("vm1")
	require.Len(t, pts, 1, "the other points are dropped")
	committed := pts[0]
	assert.Equal(t, last.Point, committed.Base, "the committed image is a delta from the old latest point")
	assert.Equal(t, want, f.pointImages("vm1", committed.ID), "the live volumes are the point with the failover's writes")
	g, err := f.store.Group(f.ctx, "vm1")
	require.NoError(t, err)
	require.NoError(t, g.Verify(f.ctx, committed.ID))
	assert.Equal(t, checkpoint.Retention{Additional: 20, Spacing: time.Minute}, g.Spec().Retention, "retention is put back")
	pins, clones = f.pinsAndClones()
	assert.Empty(t, pins)
	assert.Empty(t, clones)
	rg, err := f.replica.Group(f.ctx, "vm1")
	require.NoError(t, err)
	assert.Equal(t, []byte("<vm name='vm1'/>"), rg.Metadata, "the group's metadata survives the commit")
	assert.Equal(t, []byte("ip=10.0.0.9"), rg.FailoverSettings)

	// The old primary gets nothing in.
	f.refusedCycle()
	assert.Equal(t, pts, f.points("vm1"))
	assert.Equal(t, want, f.pointImages("vm1", committed.ID))
	for _, op := range []func(context.Context, string) error{f.replica.CompleteFailover, f.replica.CancelFailover} {
		assert.ErrorIs(t, op(f.ctx, "vm1"), replica.ErrInvalidState)
	}
	_, err = f.replica.Failover(f.ctx, "vm1", replica.SelectLatest)
	assert.ErrorIs(t, err, replica.ErrInvalidState)
}

// Completing a failover to the latest point with no writes keeps the
// latest point as it is and drops the older ones.
func TestCompleteFailoverUnchangedLatest(t *testing.T) {
	f := newFailoverEnv(t, 32<<10, 5)
	f.cycle()
	last := f.cycle()
	fo, err := f.replica.Failover(f.ctx, "vm1", replica.SelectLatest)
	require.NoError(t, err)
	assert.Equal(t, last.Point, fo.Point().ID)
	require.NoError(t, f.replica.CompleteFailover(f.ctx, "vm1"))
	pts := f.points("vm1")
	require.Len(t, pts, 1)
	assert.Equal(t, last.Point, pts[0].ID)
	assert.Equal(t, f.snaps[last.Point], f.pointImages("vm1", last.Point))
}

// Completing a failover to an older point without writes commits that
// point's content.
func TestCompleteFailoverOlderPointNoWrites(t *testing.T) {
	f := newFailoverEnv(t, 32<<10, 5)
	first := f.cycle()
	f.cycle()
	f.cycle()
	_, err := f.replica.Failover(f.ctx, "vm1", replica.SelectPoint(first.Point))
	require.NoError(t, err)
	require.NoError(t, f.replica.CompleteFailover(f.ctx, "vm1"))
	pts := f.points("vm1")
	require.Len(t, pts, 1)
	assert.Equal(t, f.snaps[first.Point], f.pointImages("vm1", pts[0].ID))
	assert.Equal(t, delta.ConsistencyCrash, pts[0].Consistency, "the point's consistency is kept when nothing was written")
}

// A selector that matches nothing, an unknown group: typed errors, and
// the group stays Replicating.
func TestFailoverRefusals(t *testing.T) {
	f := newFailoverEnv(t, 32<<10, 5)
	f.cycle()
	cases := []struct {
		name  string
		group string
		sel   replica.PointSelector
		want  error
	}{
		{"unknown point", "vm1", replica.SelectPoint(delta.PointID{1, 2, 3}), replica.ErrNoRecoveryPoint},
		{"unknown group", "vm9", replica.SelectLatest, replica.ErrUnknownGroup},
		{"invalid group id", "../x", replica.SelectLatest, checkpoint.ErrInvalidGroupID},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := f.replica.Failover(f.ctx, c.group, c.sel)
			assert.ErrorIs(t, err, c.want)
			_, err = f.replica.StartTestFailover(f.ctx, c.group, c.sel)
			assert.ErrorIs(t, err, c.want)
			assert.Equal(t, replica.Replicating, f.state())
		})
	}
	pins, clones := f.pinsAndClones()
	assert.Empty(t, pins)
	assert.Empty(t, clones)
	// Replication went on untouched.
	f.cycle()
}

// A group whose points are all crash-consistent has no latest
// app-consistent point; a group without a point has none at all.
func TestFailoverWithoutMatchingPoint(t *testing.T) {
	e := newEnv(t)
	cfg, _ := groupConfig("crash", 32<<10, 1)
	rel, err := e.primary.Enable(e.ctx, cfg)
	require.NoError(t, err)
	_, err = e.replica.Failover(e.ctx, "crash", replica.SelectLatest)
	assert.ErrorIs(t, err, replica.ErrNoRecoveryPoint, "no point before initial replication")
	_, err = rel.InitialReplication(e.ctx)
	require.NoError(t, err)
	e.event()
	_, err = e.replica.Failover(e.ctx, "crash", replica.SelectLatestAppConsistent)
	assert.ErrorIs(t, err, replica.ErrNoRecoveryPoint)
	g, err := e.replica.Group(e.ctx, "crash")
	require.NoError(t, err)
	assert.Equal(t, replica.Replicating, g.State)
	_, err = e.replica.Failover(e.ctx, "crash", replica.SelectLatest)
	require.NoError(t, err)
	require.NoError(t, e.replica.CancelFailover(e.ctx, "crash"))
}

// A write outside a failover volume is refused.
func TestFailoverVolumeBounds(t *testing.T) {
	f := newFailoverEnv(t, 32<<10, 5)
	fo, err := f.replica.Failover(f.ctx, "vm1", replica.SelectLatest)
	require.NoError(t, err)
	v := fo.Volumes()[0]
	for _, off := range []int64{-1, 32<<10 - 10, 32 << 10} {
		_, err := v.WriteAt(make([]byte, 20), off)
		assert.Error(t, err, "offset %d", off)
	}
	n, err := v.WriteAt(nil, 0)
	assert.NoError(t, err)
	assert.Zero(t, n)
	require.NoError(t, f.replica.CancelFailover(f.ctx, "vm1"))
	assert.Equal(t, f.snaps[fo.Point().ID], f.pointImages("vm1", fo.Point().ID))
}

// failingStore makes Apply fail while fail is set, as a full disk would,
// after reading part of the stream.
type failingStore struct {
	checkpoint.Store
	fail *atomic.Bool
}

func (s failingStore) Group(ctx context.Context, id string) (checkpoint.Group, error) {
	g, err := s.Store.Group(ctx, id)
	if err != nil {
		return nil, err
	}
	return failingGroup{Group: g, fail: s.fail}, nil
}

type failingGroup struct {
	checkpoint.Group
	fail *atomic.Bool
}

var errDiskFull = errors.New("disk full")

func (g failingGroup) Apply(ctx context.Context, r io.Reader) (checkpoint.ApplyResult, error) {
	if g.fail.Load() {
		io.CopyN(io.Discard, r, 100)
		return checkpoint.ApplyResult{}, errDiskFull
	}
	return g.Group.Apply(ctx, r)
}

// A CompleteFailover whose commit fails leaves the failover going on as
// before — same state, chain, volumes and writes — and can be retried.
func TestCompleteFailoverFailureKeepsFailover(t *testing.T) {
	var fail atomic.Bool
	f := newFailoverEnv(t, 64<<10, 5, withStoreWrapper(func(s checkpoint.Store) checkpoint.Store {
		return failingStore{Store: s, fail: &fail}
	}))
	first := f.cycle()
	f.cycle()
	before, beforeImgs := f.chain()
	fo, err := f.replica.Failover(f.ctx, "vm1", replica.SelectPoint(first.Point))
	require.NoError(t, err)
	want := copyImage(f.snaps[first.Point])
	writeImage(t, f.rng, fo.Volumes(), want, 10)

	fail.Store(true)
	assert.ErrorIs(t, f.replica.CompleteFailover(f.ctx, "vm1"), errDiskFull)
	assert.Equal(t, replica.FailedOverWaitingCompletion, f.state())
	after, afterImgs := f.chain()
	assert.Equal(t, before, after)
	assert.Equal(t, beforeImgs, afterImgs)
	assert.Equal(t, want, readImage(t, fo.Volumes()), "the failover's writes are still there")
	writeImage(t, f.rng, fo.Volumes(), want, 5)

	fail.Store(false)
	require.NoError(t, f.replica.CompleteFailover(f.ctx, "vm1"))
	assert.Equal(t, replica.FailedOver, f.state())
	pts := f.points("vm1")
	require.Len(t, pts, 1)
	assert.Equal(t, want, f.pointImages("vm1", pts[0].ID))
}

// CompleteFailover while the VM still writes: every write that returned
// success is in the committed point, every later one fails with
// ErrFailoverEnded.
func TestCompleteFailoverDuringWrites(t *testing.T) {
	f := newFailoverEnv(t, 64<<10, 5)
	f.cycle()
	fo, err := f.replica.Failover(f.ctx, "vm1", replica.SelectLatest)
	require.NoError(t, err)
	want := copyImage(f.snaps[fo.Point().ID])
	rng := rand.New(rand.NewPCG(f.rng.Uint64(), 3))
	firstWrite := make(chan struct{})
	ended := make(chan error, 1)
	go func() {
		for i := 0; ; i++ {
			v := rng.IntN(2)
			b := make([]byte, 1+rng.IntN(5000))
			for j := range b {
				b[j] = byte(rng.Uint32())
			}
			off := rng.Int64N(int64(len(want[v]) - len(b)))
			if _, err := fo.Volumes()[v].WriteAt(b, off); err != nil {
				ended <- err
				return
			}
			copy(want[v][off:], b)
			if i == 0 {
				close(firstWrite)
			}
		}
	}()
	<-firstWrite
	require.NoError(t, f.replica.CompleteFailover(f.ctx, "vm1"))
	assert.ErrorIs(t, <-ended, replica.ErrFailoverEnded)
	pts := f.points("vm1")
	require.Len(t, pts, 1)
	assert.Equal(t, want, f.pointImages("vm1", pts[0].ID))
}
