package replica_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/blockrep/blockrep/checkpoint"
	"github.com/blockrep/blockrep/checkpoint/vfs"
	"github.com/blockrep/blockrep/delta"
	"github.com/blockrep/blockrep/replica"
)

// crashHostOp runs op on a replica host opened (and recovered) on a copy
// of base, once to count its filesystem operations, then once per crash
// point (crashStride apart), crashing the MemFS there, restarting a host
// on what survived and calling check with op's result.
func crashHostOp(t *testing.T, e *restartEnv, base *vfs.MemFS, op func(h *replica.ReplicaHost) error, check func(t *testing.T, st *checkpoint.DirStore, h *replica.ReplicaHost, n int64, opErr error)) {
	t.Helper()
	open := func(fsys *vfs.MemFS) (*checkpoint.DirStore, *replica.ReplicaHost) {
		st, err := checkpoint.Open(fsys, "store", checkpoint.WithClock(e.clk.Now))
		require.NoError(t, err)
		h, err := replica.NewReplicaHost(replica.ReplicaConfig{Listener: e.l, Store: st, Authorizer: e.auth, Clock: e.clk})
		require.NoError(t, err)
		require.NoError(t, h.Recover(e.ctx))
		return st, h
	}
	probe := base.Clone()
	st, h := open(probe)
	start := probe.Ops()
	require.NoError(t, op(h))
	total := probe.Ops() - start
	require.NoError(t, h.Close())
	require.NoError(t, st.Close())
	for n := range total + 1 {
		if n%crashStride != 0 && n != total {
			continue
		}
		fsys := base.Clone()
		st, h := open(fsys)
		if n < total {
			fsys.CrashAt(n)
		}
		opErr := op(h)
		after := fsys.Crash()
		if n%3 == 1 {
			after = fsys.CrashRandom(uint64(n))
		}
		h.Close()
		st.Close()
		st, h = open(after)
		check(t, st, h, n, opErr)
		require.NoError(t, h.Close())
		require.NoError(t, st.Close())
	}
	t.Logf("%d crash points", total+1)
}

// A crash at any write or sync of Failover leaves, after the restart,
// either no failover (the group replicating, its chain and pins as
// before) or the failover of the chosen point with nothing written.
func TestFailoverStartCrash(t *testing.T) {
	e := newRestartEnv(t, 32<<10)
	first, _ := e.cycle(true)
	e.cycle(true)
	chain := e.pointsOf()
	e.stop()
	var none, started int
	crashHostOp(t, e, e.fsys, func(h *replica.ReplicaHost) error {
		_, err := h.Failover(e.ctx, "vm1", replica.SelectPoint(first.Point))
		return err
	}, func(t *testing.T, st *checkpoint.DirStore, h *replica.ReplicaHost, n int64, opErr error) {
		g, err := h.Group(e.ctx, "vm1")
		require.NoError(t, err, "crash at %d", n)
		require.Equal(t, chain, pointIDs(g.Points), "crash at %d", n)
		switch g.State {
		case replica.Replicating:
			require.Error(t, opErr, "crash at %d: Failover returned, yet no failover", n)
			none++
			sg, err := st.Group(e.ctx, "vm1")
			require.NoError(t, err)
			pins, err := sg.Pins(e.ctx)
			require.NoError(t, err)
			require.Empty(t, pins, "crash at %d", n)
			clones, err := sg.Clones(e.ctx)
			require.NoError(t, err)
			require.Empty(t, clones, "crash at %d: what the start left is discarded", n)
		case replica.FailedOverWaitingCompletion:
			started++
			fo, err := h.ActiveFailover("vm1")
			require.NoError(t, err, "crash at %d", n)
			require.Equal(t, first.Point, fo.Point().ID)
			require.Equal(t, e.snaps[first.Point], readImage(t, fo.Volumes()), "crash at %d", n)
		default:
			t.Fatalf("crash at %d: state %s", n, g.State)
		}
	})
	assert.Positive(t, none)
	assert.Positive(t, started)
}

// A crash at any write or sync of CancelFailover leaves, after the
// restart, either the failover waiting with its synced writes or the group
// replicating with its chain as before and nothing of the failover left.
func TestCancelFailoverCrash(t *testing.T) {
	e := newRestartEnv(t, 32<<10)
	first, _ := e.cycle(true)
	e.cycle(true)
	fo, err := e.host.Failover(e.ctx, "vm1", replica.SelectPoint(first.Point))
	require.NoError(t, err)
	want := copyImage(e.snaps[first.Point])
	writeImage(t, e.rng, fo.Volumes(), want, 6)
	require.NoError(t, fo.Sync())
	chain := e.pointsOf()
	e.stop()
	var waiting, cancelled int
	crashHostOp(t, e, e.fsys, func(h *replica.ReplicaHost) error {
		return h.CancelFailover(e.ctx, "vm1")
	}, func(t *testing.T, st *checkpoint.DirStore, h *replica.ReplicaHost, n int64, opErr error) {
		g, err := h.Group(e.ctx, "vm1")
		require.NoError(t, err, "crash at %d", n)
		require.Equal(t, chain, pointIDs(g.Points), "crash at %d", n)
		switch g.State {
		case replica.FailedOverWaitingCompletion:
			require.Error(t, opErr, "crash at %d: CancelFailover returned, yet the failover waits", n)
			waiting++
			fo, err := h.ActiveFailover("vm1")
			require.NoError(t, err, "crash at %d", n)
			require.Equal(t, want, readImage(t, fo.Volumes()), "crash at %d", n)
		case replica.Replicating:
			cancelled++
			sg, err := st.Group(e.ctx, "vm1")
			require.NoError(t, err)
			pins, err := sg.Pins(e.ctx)
			require.NoError(t, err)
			require.Empty(t, pins, "crash at %d", n)
			clones, err := sg.Clones(e.ctx)
			require.NoError(t, err)
			require.Empty(t, clones, "crash at %d", n)
		default:
			t.Fatalf("crash at %d: state %s", n, g.State)
		}
	})
	assert.Positive(t, waiting)
	assert.Positive(t, cancelled)
}

func pointIDs(pts []checkpoint.Point) []delta.PointID {
	var ids []delta.PointID
	for _, p := range pts {
		ids = append(ids, p.ID)
	}
	return ids
}

// A crash at any write or sync of StopTestFailover leaves, after the
// restart, either the test failover running with its synced writes —
// while deltas still apply — or the group replicating with the point
// unpinned and nothing of the test failover left.
func TestStopTestFailoverCrash(t *testing.T) {
	e := newRestartEnv(t, 32<<10)
	first, _ := e.cycle(true)
	tf, err := e.host.StartTestFailover(e.ctx, "vm1", replica.SelectLatest)
	require.NoError(t, err)
	want := copyImage(e.snaps[first.Point])
	writeImage(t, e.rng, tf.Volumes(), want, 6)
	require.NoError(t, tf.Sync())
	e.cycle(true)
	chain := e.pointsOf()
	e.stop()
	var running, stopped int
	crashHostOp(t, e, e.fsys, func(h *replica.ReplicaHost) error {
		return h.StopTestFailover(e.ctx, "vm1")
	}, func(t *testing.T, st *checkpoint.DirStore, h *replica.ReplicaHost, n int64, opErr error) {
		g, err := h.Group(e.ctx, "vm1")
		require.NoError(t, err, "crash at %d", n)
		sg, err := st.Group(e.ctx, "vm1")
		require.NoError(t, err)
		pins, err := sg.Pins(e.ctx)
		require.NoError(t, err)
		switch g.State {
		case replica.TestFailoverRunning:
			require.Error(t, opErr, "crash at %d: StopTestFailover returned, yet it runs", n)
			running++
			require.Equal(t, chain, pointIDs(g.Points), "crash at %d", n)
			tf, err := h.ActiveTestFailover("vm1")
			require.NoError(t, err, "crash at %d", n)
			require.Equal(t, want, readImage(t, tf.Volumes()), "crash at %d", n)
			require.Len(t, pins, 1, "crash at %d: the point stays pinned", n)
		case replica.Replicating:
			stopped++
			require.Empty(t, pins, "crash at %d", n)
			clones, err := sg.Clones(e.ctx)
			require.NoError(t, err)
			require.Empty(t, clones, "crash at %d", n)
		default:
			t.Fatalf("crash at %d: state %s", n, g.State)
		}
	})
	assert.Positive(t, running)
	assert.Positive(t, stopped)
}
