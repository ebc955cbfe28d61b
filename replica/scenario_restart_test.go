package replica_test

import (
	"context"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/blockrep/blockrep/checkpoint"
	"github.com/blockrep/blockrep/checkpoint/vfs"
	"github.com/blockrep/blockrep/delta"
	"github.com/blockrep/blockrep/replica"
	"github.com/blockrep/blockrep/replica/replicatest"
	"github.com/blockrep/blockrep/transport"
	"github.com/blockrep/blockrep/transport/memory"
)

// restartEnv is a primary and a replica host whose store lives on a MemFS,
// so that the replica host can be stopped — cleanly or by a crash that
// keeps only synced data — and started again on what is left, listening
// on the same address.
type restartEnv struct {
	t       *testing.T
	ctx     context.Context
	clk     *replicatest.Clock
	fsys    *vfs.MemFS
	auth    *transport.Authorizer
	l       transport.Listener
	store   *checkpoint.DirStore
	host    *replica.ReplicaHost
	served  chan error
	cancel  context.CancelFunc
	primary *replica.PrimaryHost
	rel     *replica.Relationship
	vols    []*memVolume
	rng     *rand.Rand
	snaps   map[delta.PointID][][]byte
}

// newRestartEnv enables vm1 (two volumes of size bytes, 5-minute cycles,
// retention of 10 more points) and replicates it once.
func newRestartEnv(t *testing.T, size int64) *restartEnv {
	const seed = 44
	t.Logf("seed %d", seed)
	ctx := context.Background()
	e := &restartEnv{t: t, ctx: ctx, clk: replicatest.NewClock(epoch), fsys: vfs.NewMem(),
		rng: rand.New(rand.NewPCG(seed, 2)), snaps: make(map[delta.PointID][][]byte)}
	net, err := memory.NewNetwork(1)
	require.NoError(t, err)
	e.auth, err = transport.NewAuthorizer([]transport.AuthEntry{{Peer: "primary", Group: "*", Storage: "."}})
	require.NoError(t, err)
	e.l, err = net.Endpoint("replica").Listen(ctx, "replica:1")
	require.NoError(t, err)
	e.start()
	e.primary, err = replica.NewPrimaryHost(replica.PrimaryConfig{Transport: net.Endpoint("primary"), Clock: e.clk, Rand: &countingReader{}})
	require.NoError(t, err)
	t.Cleanup(func() {
		require.NoError(t, e.primary.Close())
		e.stop()
		e.l.Close()
	})
	cfg, vols := groupConfig("vm1", size, 2)
	cfg.Metadata = []byte("<vm name='vm1'/>")
	cfg.FailoverSettings = []byte("ip=10.0.0.9")
	cfg.Retention = checkpoint.Retention{Additional: 10, Spacing: time.Minute}
	e.rel, err = e.primary.Enable(ctx, cfg)
	require.NoError(t, err)
	e.vols = vols
	e.write(6)
	res, err := e.rel.InitialReplication(ctx)
	require.NoError(t, err)
	e.record(res)
	return e
}

// start opens the store and serves it.
func (e *restartEnv) start() {
	var err error
	e.store, err = checkpoint.Open(e.fsys, "store", checkpoint.WithClock(e.clk.Now))
	require.NoError(e.t, err)
	e.host, err = replica.NewReplicaHost(replica.ReplicaConfig{Listener: e.l, Store: e.store, Authorizer: e.auth, Clock: e.clk})
	require.NoError(e.t, err)
	ctx, cancel := context.WithCancel(e.ctx)
	e.cancel, e.served = cancel, make(chan error, 1)
	go func() { e.served <- e.host.Serve(ctx) }()
}

// stop ends the replica host and closes its store.
func (e *restartEnv) stop() {
	if e.host == nil {
		return
	}
	e.cancel()
	require.NoError(e.t, <-e.served)
	require.NoError(e.t, e.host.Close())
	require.NoError(e.t, e.store.Close())
	e.host = nil
}

// restart stops the replica host and starts a new one on the same store;
// with crash, only what was synced survives.
func (e *restartEnv) restart(crash bool) {
	e.stop()
	if crash {
		e.fsys = e.fsys.Crash()
	}
	e.start()
}

func (e *restartEnv) write(n int) {
	for range n {
		v := e.rel.Volume(e.rng.IntN(len(e.vols)))
		b := make([]byte, 1+e.rng.IntN(9000))
		for i := range b {
			b[i] = byte(e.rng.Uint32())
		}
		_, err := v.WriteAt(b, e.rng.Int64N(int64(len(e.vols[0].data)-len(b))))
		require.NoError(e.t, err)
	}
}

func (e *restartEnv) record(res replica.CycleResult) {
	var imgs [][]byte
	for _, v := range e.vols {
		imgs = append(imgs, v.snapshot())
	}
	e.snaps[res.Point] = imgs
}

// cycle writes and runs a cycle; ok says whether the replica must accept it.
func (e *restartEnv) cycle(ok bool) (replica.CycleResult, error) {
	e.t.Helper()
	e.write(4)
	e.clk.Advance(replica.Frequency5m)
	res, err := e.rel.Cycle(e.ctx)
	if ok {
		require.NoError(e.t, err)
		e.record(res)
	} else {
		require.Error(e.t, err)
	}
	return res, err
}

func (e *restartEnv) state() replica.State {
	e.t.Helper()
	g, err := e.host.Group(e.ctx, "vm1")
	require.NoError(e.t, err)
	return g.State
}

// pointImage reads every volume of point id from the store.
func (e *restartEnv) pointImage(id delta.PointID) [][]byte {
	e.t.Helper()
	g, err := e.store.Group(e.ctx, "vm1")
	require.NoError(e.t, err)
	v, err := g.OpenPoint(e.ctx, id)
	require.NoError(e.t, err)
	defer v.Close()
	var out [][]byte
	for _, r := range v.Volumes() {
		b := make([]byte, r.Size())
		_, err := r.ReadAt(b, 0)
		require.NoError(e.t, err)
		out = append(out, b)
	}
	return out
}

func (e *restartEnv) latest() checkpoint.Point {
	e.t.Helper()
	g, err := e.store.Group(e.ctx, "vm1")
	require.NoError(e.t, err)
	p, err := g.Latest(e.ctx)
	require.NoError(e.t, err)
	return p
}

// A failover survives a restart of its replica host — clean or a crash —
// with the writes its Sync made durable; the old primary's deltas stay
// refused; after the restart it is cancelled or completed as before it.
func TestRestartKeepsFailover(t *testing.T) {
	for _, tc := range []struct {
		name     string
		crash    bool
		complete bool
	}{
		{"clean restart, cancel", false, false},
		{"crash, cancel", true, false},
		{"clean restart, complete", false, true},
		{"crash, complete", true, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			const size = 64 << 10
			e := newRestartEnv(t, size)
			first, _ := e.cycle(true)
			second, _ := e.cycle(true)
			fo, err := e.host.Failover(e.ctx, "vm1", replica.SelectPoint(first.Point))
			require.NoError(t, err)
			want := copyImage(e.snaps[first.Point])
			writeImage(t, e.rng, fo.Volumes(), want, 12)
			require.NoError(t, fo.Sync())
			synced := copyImage(want)
			if tc.crash {
				// Writes after the Sync: a crash loses them.
				writeImage(t, e.rng, fo.Volumes(), copyImage(want), 3)
			}
			chain := e.pointsOf()

			e.restart(tc.crash)
			_, err = e.host.ActiveFailover("vm1")
			var se *replica.StateError
			require.ErrorAs(t, err, &se, "nothing restored before the group's first access")
			// The old primary's delta is refused: its session restores
			// the group first.
			_, err = e.cycle(false)
			require.ErrorIs(t, err, replica.ErrReplicaFailedOver)
			require.NoError(t, e.host.Recover(e.ctx))
			assert.Equal(t, replica.FailedOverWaitingCompletion, e.state())
			fo2, err := e.host.ActiveFailover("vm1")
			require.NoError(t, err)
			assert.Equal(t, first.Point, fo2.Point().ID)
			assert.Equal(t, []byte("<vm name='vm1'/>"), fo2.Metadata())
			assert.Equal(t, []byte("ip=10.0.0.9"), fo2.FailoverSettings())
			got := readImage(t, fo2.Volumes())
			assert.Equal(t, synced, got, "the image has every write the Sync made durable")
			assert.Equal(t, chain, e.pointsOf(), "the chain is as it was")
			_, err = e.host.Failover(e.ctx, "vm1", replica.SelectLatest)
			require.ErrorAs(t, err, &se, "one failover at a time, restored or not")

			if !tc.complete {
				require.NoError(t, e.host.CancelFailover(e.ctx, "vm1"))
				assert.Equal(t, replica.Replicating, e.state())
				_, err = fo2.Volumes()[0].ReadAt(make([]byte, 1), 0)
				require.ErrorIs(t, err, replica.ErrFailoverEnded)
				assert.Equal(t, chain, e.pointsOf())
				third, _ := e.cycle(true)
				assert.Equal(t, e.snaps[third.Point], e.pointImage(third.Point))
				return
			}
			more := copyImage(got)
			writeImage(t, e.rng, fo2.Volumes(), more, 4)
			require.NoError(t, e.host.CompleteFailover(e.ctx, "vm1"))
			assert.Equal(t, replica.FailedOver, e.state())
			latest := e.latest()
			assert.Equal(t, second.Point, latest.Base)
			assert.Equal(t, more, e.pointImage(latest.ID), "the committed point is the image with every write")
			pts := e.pointsOf()
			assert.Len(t, pts, 1, "completing drops the other points")
			g, err := e.store.Group(e.ctx, "vm1")
			require.NoError(t, err)
			pins, err := g.Pins(e.ctx)
			require.NoError(t, err)
			assert.Empty(t, pins)
			clones, err := g.Clones(e.ctx)
			require.NoError(t, err)
			assert.Empty(t, clones)
			// Completed stays completed through another restart.
			e.restart(true)
			assert.Equal(t, replica.FailedOver, e.state())
			_, err = e.host.ActiveFailover("vm1")
			require.ErrorAs(t, err, &se)
		})
	}
}

// A test failover survives a restart: it keeps its synced writes and its
// pinned point while cycles go on, and stops as before.
func TestRestartKeepsTestFailover(t *testing.T) {
	e := newRestartEnv(t, 64<<10)
	first, _ := e.cycle(true)
	tf, err := e.host.StartTestFailover(e.ctx, "vm1", replica.SelectLatest)
	require.NoError(t, err)
	want := copyImage(e.snaps[first.Point])
	writeImage(t, e.rng, tf.Volumes(), want, 10)
	require.NoError(t, tf.Sync())

	e.restart(true)
	// The session restores the group: the delta applies alongside.
	for range 3 {
		e.cycle(true)
	}
	assert.Equal(t, replica.TestFailoverRunning, e.state())
	tf2, err := e.host.ActiveTestFailover("vm1")
	require.NoError(t, err)
	assert.Equal(t, first.Point, tf2.Point().ID)
	assert.Equal(t, want, readImage(t, tf2.Volumes()))
	assert.Equal(t, e.snaps[first.Point], e.pointImage(first.Point), "the point is unchanged and kept")
	_, err = e.host.StartTestFailover(e.ctx, "vm1", replica.SelectLatest)
	require.ErrorIs(t, err, replica.ErrTestFailoverRunning)

	e.restart(false)
	require.NoError(t, e.host.StopTestFailover(e.ctx, "vm1"), "stopping restores the group first")
	assert.Equal(t, replica.Replicating, e.state())
	require.ErrorIs(t, tf2.Sync(), checkpoint.ErrClosed, "the old host's image died with its store")
	g, err := e.store.Group(e.ctx, "vm1")
	require.NoError(t, err)
	pins, err := g.Pins(e.ctx)
	require.NoError(t, err)
	assert.Empty(t, pins)
	last, _ := e.cycle(true)
	assert.Equal(t, e.snaps[last.Point], e.pointImage(last.Point))
	_, err = e.host.ActiveTestFailover("vm1")
	var se *replica.StateError
	require.ErrorAs(t, err, &se)
}

// A replica host restarted with nothing in progress serves on; Recover on
// it finds nothing to restore.
func TestRestartNothingInProgress(t *testing.T) {
	e := newRestartEnv(t, 32<<10)
	e.cycle(true)
	e.restart(true)
	require.NoError(t, e.host.Recover(e.ctx))
	assert.Equal(t, replica.Replicating, e.state())
	res, _ := e.cycle(true)
	assert.Equal(t, e.snaps[res.Point], e.pointImage(res.Point))
}

func (e *restartEnv) pointsOf() []delta.PointID {
	e.t.Helper()
	g, err := e.store.Group(e.ctx, "vm1")
	require.NoError(e.t, err)
	pts, err := g.Points(e.ctx)
	require.NoError(e.t, err)
	var ids []delta.PointID
	for _, p := range pts {
		ids = append(ids, p.ID)
	}
	return ids
}

// A crash at any write or sync of CompleteFailover leaves, after the
// restart, either the failover waiting as before — its clone intact with
// its synced writes, the chain untouched — or the failover completed: the
// group FailedOver at one point holding the image.
func TestCompleteFailoverCrash(t *testing.T) {
	e := newRestartEnv(t, 32<<10)
	first, _ := e.cycle(true)
	e.cycle(true)
	fo, err := e.host.Failover(e.ctx, "vm1", replica.SelectPoint(first.Point))
	require.NoError(t, err)
	want := copyImage(e.snaps[first.Point])
	writeImage(t, e.rng, fo.Volumes(), want, 8)
	require.NoError(t, fo.Sync())
	chain := e.pointsOf()
	e.stop()
	base := e.fsys

	// open starts a host on fsys (not serving: nothing else touches it)
	// and restores the failover.
	open := func(fsys *vfs.MemFS) (*checkpoint.DirStore, *replica.ReplicaHost) {
		st, err := checkpoint.Open(fsys, "store", checkpoint.WithClock(e.clk.Now))
		require.NoError(t, err)
		h, err := replica.NewReplicaHost(replica.ReplicaConfig{Listener: e.l, Store: st, Authorizer: e.auth, Clock: e.clk})
		require.NoError(t, err)
		require.NoError(t, h.Recover(e.ctx))
		return st, h
	}
	complete := func(h *replica.ReplicaHost) error { return h.CompleteFailover(e.ctx, "vm1") }
	probe := base.Clone()
	st, h := open(probe)
	start := probe.Ops()
	require.NoError(t, complete(h))
	total := probe.Ops() - start
	require.NoError(t, h.Close())
	require.NoError(t, st.Close())

	var waiting, completed int
	for n := range total + 1 {
		if n%crashStride != 0 && n != total {
			continue
		}
		fsys := base.Clone()
		st, h := open(fsys)
		if n < total {
			fsys.CrashAt(n)
		}
		opErr := complete(h)
		var after *vfs.MemFS
		if n%3 == 2 {
			after = fsys.CrashRandom(uint64(n))
		} else {
			after = fsys.Crash()
		}
		h.Close()
		st.Close()
		st, h = open(after)
		g, err := h.Group(e.ctx, "vm1")
		require.NoError(t, err, "crash at %d", n)
		switch g.State {
		case replica.FailedOverWaitingCompletion:
			require.Error(t, opErr, "crash at %d: CompleteFailover returned, yet the failover waits", n)
			waiting++
			fo, err := h.ActiveFailover("vm1")
			require.NoError(t, err, "crash at %d", n)
			require.Equal(t, want, readImage(t, fo.Volumes()), "crash at %d", n)
			var ids []delta.PointID
			for _, p := range g.Points {
				ids = append(ids, p.ID)
			}
			require.Equal(t, chain, ids, "crash at %d: the chain is as before", n)
		case replica.FailedOver:
			completed++
			if opErr == nil {
				require.Len(t, g.Points, 1, "crash at %d after CompleteFailover returned", n)
			} // else the drop of the other points may not have finished: retention prunes them later
			sg, err := st.Group(e.ctx, "vm1")
			require.NoError(t, err)
			v, err := sg.OpenPoint(e.ctx, g.Points[len(g.Points)-1].ID)
			require.NoError(t, err)
			var got [][]byte
			for _, r := range v.Volumes() {
				b := make([]byte, r.Size())
				_, err := r.ReadAt(b, 0)
				require.NoError(t, err)
				got = append(got, b)
			}
			v.Close()
			require.Equal(t, want, got, "crash at %d: the committed point is the image", n)
			clones, err := sg.Clones(e.ctx)
			require.NoError(t, err)
			require.Empty(t, clones, "crash at %d", n)
			pins, err := sg.Pins(e.ctx)
			require.NoError(t, err)
			require.Empty(t, pins, "crash at %d", n)
		default:
			t.Fatalf("crash at %d: state %s", n, g.State)
		}
		require.NoError(t, h.Close())
		require.NoError(t, st.Close())
	}
	t.Logf("%d crash points: %d waiting, %d completed", total+1, waiting, completed)
	assert.Positive(t, waiting)
	assert.Positive(t, completed)
}
