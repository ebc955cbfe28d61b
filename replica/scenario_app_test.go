package replica_test

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/blockrep/blockrep/checkpoint"
	"github.com/blockrep/blockrep/delta"
	"github.com/blockrep/blockrep/replica"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// With 5-minute cycles and app-consistent points every hour, the quiesce
// hook runs for the initial copy and then once an hour; the replica marks
// exactly those points application-consistent.
func TestAppConsistentEveryHour(t *testing.T) {
	e := newEnv(t)
	cfg, _ := groupConfig("vm1", 64<<10, 1)
	cfg.Retention = checkpoint.Retention{Additional: 20, Spacing: time.Minute}
	cfg.AppConsistentInterval = time.Hour
	quiesced := 0
	cfg.Quiesce = func(context.Context) (func(), error) {
		quiesced++
		return func() {}, nil
	}
	rel, err := e.primary.Enable(e.ctx, cfg)
	require.NoError(t, err)
	e.run()
	ev := e.event()
	require.NoError(t, ev.Err)
	app := []bool{ev.Result.AppConsistent}
	for range 13 {
		e.waitTimers(1)
		fill(t, rel.Volume(0), 0, 10, 1)
		e.clk.Advance(5 * time.Minute)
		ev := e.event()
		require.NoError(t, ev.Err)
		app = append(app, ev.Result.AppConsistent)
	}
	want := make([]bool, 14)
	want[0], want[12] = true, true // 0 and 60 minutes
	assert.Equal(t, want, app)
	assert.Equal(t, 2, quiesced)
	var cons []delta.Consistency
	for _, p := range e.points("vm1") {
		cons = append(cons, p.Consistency)
	}
	require.Len(t, cons, 14)
	for i, c := range cons {
		w := delta.ConsistencyCrash
		if want[i] {
			w = delta.ConsistencyApp
		}
		assert.Equal(t, w, c, "point %d", i)
	}
}

// A quiesce hook that fails makes the cycle fail and lose nothing.
func TestQuiesceFailure(t *testing.T) {
	e := newEnv(t)
	cfg, vols := groupConfig("vm1", 64<<10, 1)
	cfg.AppConsistentInterval = time.Hour
	fail := false
	cfg.Quiesce = func(context.Context) (func(), error) {
		if fail {
			return nil, assert.AnError
		}
		return func() {}, nil
	}
	rel, err := e.primary.Enable(e.ctx, cfg)
	require.NoError(t, err)
	_, err = rel.InitialReplication(e.ctx)
	require.NoError(t, err)
	e.event()
	fill(t, rel.Volume(0), 0, 4096, 1)
	e.clk.Advance(time.Hour)
	fail = true
	_, err = rel.Cycle(e.ctx)
	require.ErrorIs(t, err, assert.AnError)
	e.event()
	assert.Equal(t, int64(4096), rel.Stats().PendingBytes)
	fail = false
	res, err := rel.Cycle(e.ctx)
	require.NoError(t, err)
	e.event()
	assert.True(t, res.AppConsistent)
	assert.Equal(t, [][]byte{vols[0].snapshot()}, e.pointImages("vm1", res.Point))
}

// Compression can be turned off: the delta then carries the raw blocks.
func TestCompressionOff(t *testing.T) {
	e := newEnv(t)
	for _, off := range []bool{false, true} {
		id := map[bool]string{false: "zstd", true: "raw"}[off]
		cfg, vols := groupConfig(id, 64<<10, 1)
		cfg.NoCompression = off
		rel, err := e.primary.Enable(e.ctx, cfg)
		require.NoError(t, err)
		_, err = rel.InitialReplication(e.ctx)
		require.NoError(t, err)
		e.event()
		_, err = rel.Volume(0).WriteAt(bytes.Repeat([]byte("a"), 4096), 32768)
		require.NoError(t, err)
		res, err := rel.Cycle(e.ctx)
		require.NoError(t, err)
		e.event()
		if off {
			assert.Greater(t, res.StreamBytes, int64(4096), "a raw block travels whole")
		} else {
			assert.Less(t, res.StreamBytes, int64(1024), "a compressible block shrinks")
		}
		assert.Equal(t, [][]byte{vols[0].snapshot()}, e.pointImages(id, res.Point))
	}
}

// A group enabled while Run runs joins the schedule.
func TestEnableWhileRunning(t *testing.T) {
	e := newEnv(t)
	e.run()
	cfg, vols := groupConfig("late", 64<<10, 1)
	cfg.Frequency = replica.Frequency30s
	fill(t, vols[0], 0, 5000, 3)
	rel, err := e.primary.Enable(e.ctx, cfg)
	require.NoError(t, err)
	ev := e.event()
	require.NoError(t, ev.Err)
	assert.True(t, ev.Initial)
	e.waitTimers(1)
	assert.Equal(t, []time.Time{epoch.Add(30 * time.Second)}, e.clk.Deadlines())
	fill(t, rel.Volume(0), 40000, 10, 4)
	e.clk.Advance(30 * time.Second)
	ev = e.event()
	require.NoError(t, ev.Err)
	assert.Equal(t, [][]byte{vols[0].snapshot()}, e.pointImages("late", ev.Result.Point))

	require.NoError(t, e.primary.Remove(e.ctx, "late"))
	e.waitTimers(0)
	assert.Empty(t, e.primary.Relationships())
}
