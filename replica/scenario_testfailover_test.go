package replica_test

import (
	"math/rand/v2"
	"testing"

	"github.com/blockrep/blockrep/delta"
	"github.com/blockrep/blockrep/replica"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The story of a test failover (invariants 6 and 7): with retention
// keeping the latest point only, a test failover of point k runs while
// cycles go on; every cycle applies, k stays (pinned) and reads as it was,
// the clone reads k with the test's writes and no write reaches a point.
// Stopping it discards the clone and releases the pin, and retention
// prunes k as usual.
func TestTestFailoverWhileReplicating(t *testing.T) {
	const size = 64 << 10
	f := newFailoverEnv(t, size, 0)
	f.cycle()
	k := f.cycle()
	require.Len(t, f.points("vm1"), 1, "retention keeps the latest point only")

	tf, err := f.replica.StartTestFailover(f.ctx, "vm1", replica.SelectLatest)
	require.NoError(t, err)
	assert.Equal(t, k.Point, tf.Point().ID)
	assert.Equal(t, "vm1", tf.Group())
	assert.Equal(t, []byte("<vm name='vm1'/>"), tf.Metadata())
	assert.Equal(t, []byte("ip=10.0.0.9"), tf.FailoverSettings())
	assert.Equal(t, replica.TestFailoverRunning, f.state())
	assert.Equal(t, f.snaps[k.Point], readImage(t, tf.Volumes()))
	pins, clones := f.pinsAndClones()
	require.Len(t, pins, 1)
	assert.Equal(t, k.Point, pins[0].Point)
	assert.Len(t, clones, 1)

	// One at a time; no unplanned failover while it runs.
	_, err = f.replica.StartTestFailover(f.ctx, "vm1", replica.SelectLatest)
	assert.ErrorIs(t, err, replica.ErrTestFailoverRunning)
	_, err = f.replica.Failover(f.ctx, "vm1", replica.SelectLatest)
	var serr *replica.StateError
	require.ErrorAs(t, err, &serr)
	assert.Equal(t, replica.TestFailoverRunning, serr.From)
	assert.Equal(t, replica.FailedOverWaitingCompletion, serr.To)

	want := copyImage(f.snaps[k.Point])
	for c := range 4 {
		writeImage(t, f.rng, tf.Volumes(), want, 10)
		res := f.cycle()
		pts := f.points("vm1")
		require.Len(t, pts, 2, "cycle %d: the pinned point and the latest", c)
		assert.Equal(t, []delta.PointID{k.Point, res.Point}, []delta.PointID{pts[0].ID, pts[1].ID})
		assert.Equal(t, f.snaps[k.Point], f.pointImages("vm1", k.Point), "cycle %d: the test's writes reach no point", c)
		assert.Equal(t, f.snaps[res.Point], f.pointImages("vm1", res.Point), "cycle %d", c)
		assert.Equal(t, want, readImage(t, tf.Volumes()), "cycle %d: the clone is point k with the test's writes", c)
		assert.Equal(t, replica.TestFailoverRunning, f.state())
	}
	g, err := f.store.Group(f.ctx, "vm1")
	require.NoError(t, err)
	require.NoError(t, g.Verify(f.ctx, k.Point), "point k's content hash is unchanged")
	latest := f.points("vm1")[1]

	require.NoError(t, f.replica.StopTestFailover(f.ctx, "vm1"))
	assert.Equal(t, replica.Replicating, f.state())
	_, err = tf.Volumes()[0].ReadAt(make([]byte, 8), 0)
	assert.ErrorIs(t, err, replica.ErrFailoverEnded)
	_, err = tf.Volumes()[1].WriteAt(make([]byte, 8), 0)
	assert.ErrorIs(t, err, replica.ErrFailoverEnded)
	pins, clones = f.pinsAndClones()
	assert.Empty(t, pins)
	assert.Empty(t, clones)
	pts := f.points("vm1")
	require.Len(t, pts, 1, "with the pin gone, retention prunes point k")
	assert.Equal(t, latest.ID, pts[0].ID)
	assert.Equal(t, latest.Hash, pts[0].Hash)
	assert.Equal(t, f.snaps[latest.ID], f.pointImages("vm1", latest.ID))
	assert.ErrorIs(t, f.replica.StopTestFailover(f.ctx, "vm1"), replica.ErrInvalidState)

	res := f.cycle()
	pts = f.points("vm1")
	require.Len(t, pts, 1)
	assert.Equal(t, res.Point, pts[0].ID)
	assert.Equal(t, f.snaps[res.Point], f.pointImages("vm1", res.Point))

	// A new test failover can start, on another point, after the stop.
	tf, err = f.replica.StartTestFailover(f.ctx, "vm1", replica.SelectPoint(res.Point))
	require.NoError(t, err)
	assert.Equal(t, f.snaps[res.Point], readImage(t, tf.Volumes()))
	require.NoError(t, f.replica.StopTestFailover(f.ctx, "vm1"))
}

// A test failover of an older point while the schedule runs cycles on
// the clock: replication does not stop, and the older point is kept.
func TestTestFailoverOlderPointWithSchedule(t *testing.T) {
	f := newFailoverEnv(t, 32<<10, 3)
	k := f.cycle()
	f.cycle()
	tf, err := f.replica.StartTestFailover(f.ctx, "vm1", replica.SelectPoint(k.Point))
	require.NoError(t, err)
	// The tested VM writes to its clone all along, as the cycles apply.
	want := copyImage(f.snaps[k.Point])
	stop, stopped := make(chan struct{}), make(chan struct{})
	rng := rand.New(rand.NewPCG(f.rng.Uint64(), 2))
	go func() {
		defer close(stopped)
		for {
			select {
			case <-stop:
				return
			default:
			}
			v := rng.IntN(2)
			b := make([]byte, 1+rng.IntN(5000))
			for i := range b {
				b[i] = byte(rng.Uint32())
			}
			off := rng.Int64N(int64(len(want[v]) - len(b)))
			if _, err := tf.Volumes()[v].WriteAt(b, off); err != nil {
				t.Errorf("clone write: %v", err)
				return
			}
			copy(want[v][off:], b)
		}
	}()
	f.run()
	for c := range 6 {
		f.waitTimers(1)
		f.write(4)
		f.clk.Advance(replica.Frequency5m)
		ev := f.event()
		require.NoError(t, ev.Err, "cycle %d", c)
		f.record(ev.Result)
	}
	close(stop)
	<-stopped
	pts := f.points("vm1")
	require.Equal(t, k.Point, pts[0].ID, "the tested point outlives the retention of 3 additional points")
	assert.Len(t, pts, 5)
	assert.Equal(t, want, readImage(t, tf.Volumes()))
	for _, p := range pts[1:] {
		assert.Equal(t, f.snaps[p.ID], f.pointImages("vm1", p.ID), "point %s", p.ID)
	}
	assert.Equal(t, f.snaps[k.Point], f.pointImages("vm1", k.Point))
	require.NoError(t, f.replica.StopTestFailover(f.ctx, "vm1"))
	pts = f.points("vm1")
	assert.Len(t, pts, 4)
	assert.NotEqual(t, k.Point, pts[0].ID)
}
