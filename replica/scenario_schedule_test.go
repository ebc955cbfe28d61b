package replica_test

import (
	"context"
	"testing"
	"time"

	"github.com/blockrep/blockrep/replica"
	"github.com/blockrep/blockrep/transport/memory"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The replica becomes unreachable. The schedule retries after 1, 2, 4 and
// 8 minutes, then every RetryInterval (15 minutes by default), counting
// one missed cycle per 5-minute slot without a successful cycle; health
// turns Warning, then Critical after an hour without success; once the
// network heals the next attempt succeeds and the schedule returns to its
// slots.
func TestMissedCyclesAndBackoff(t *testing.T) {
	e := newEnv(t)
	cfg, _ := groupConfig("vm1", 64<<10, 1)
	rel, err := e.primary.Enable(e.ctx, cfg)
	require.NoError(t, err)
	e.run()
	require.NoError(t, e.event().Err) // initial replication, at epoch
	e.net.Partition("primary", "replica")

	const (
		none = iota
		fail
		ok
	)
	steps := []struct {
		at     int // minutes after epoch the clock is moved to
		event  int
		missed int64
		errors int64
		next   int // the next deadline, minutes after epoch
	}{
		{5, fail, 1, 1, 6},
		{6, fail, 1, 2, 8},
		{8, fail, 1, 3, 10},
		{10, none, 1, 3, 12},
		{12, fail, 2, 4, 15},
		{15, none, 2, 4, 20},
		{20, fail, 4, 5, 25}, // slot 15-20 ended without success; the 20-25 attempt fails
		{25, none, 4, 5, 30},
		{30, none, 5, 5, 35},
		{35, fail, 7, 6, 40},
		{40, none, 7, 6, 45},
		{45, none, 8, 6, 50},
		{50, fail, 10, 7, 55},
		{55, none, 10, 7, 60},
		{60, none, 11, 7, 65},
	}
	for _, s := range steps {
		e.waitTimers(1)
		require.Equal(t, []time.Time{epoch.Add(time.Duration(s.at) * time.Minute)}, e.clk.Deadlines(), "deadline before step at %dm", s.at)
		e.clk.Set(epoch.Add(time.Duration(s.at) * time.Minute))
		switch s.event {
		case fail:
			ev := e.event()
			require.Error(t, ev.Err, "at %dm", s.at)
		case ok:
			require.NoError(t, e.event().Err, "at %dm", s.at)
		}
		e.waitTimers(1)
		e.noEvent()
		st := rel.Stats()
		assert.Equal(t, s.missed, st.MissedCycles, "missed at %dm", s.at)
		assert.Equal(t, s.errors, st.Errors, "errors at %dm", s.at)
		assert.Equal(t, []time.Time{epoch.Add(time.Duration(s.next) * time.Minute)}, e.clk.Deadlines(), "next deadline after %dm", s.at)
		if s.at == 35 {
			h := rel.Health()
			assert.Equal(t, replica.Warning, h.Level)
			assert.Equal(t, []string{"7 of 7 cycles missed since 2026-11-25T12:00:00Z"}, h.Reasons)
		}
	}
	assert.Equal(t, replica.Warning, rel.Health().Level, "exactly an hour is not over an hour")
	e.clk.Advance(time.Minute)
	h := rel.Health()
	assert.Equal(t, replica.Critical, h.Level)
	assert.Equal(t, []string{"no successful cycle for 1h1m0s", "11 of 11 cycles missed since 2026-11-25T12:00:00Z"}, h.Reasons)

	e.net.HealAll()
	e.waitTimers(1)
	e.clk.Set(epoch.Add(65 * time.Minute))
	ev := e.event()
	require.NoError(t, ev.Err)
	e.waitTimers(1)
	assert.Equal(t, []time.Time{epoch.Add(70 * time.Minute)}, e.clk.Deadlines(), "back on the 5-minute slots")
	st := rel.Stats()
	assert.Equal(t, int64(12), st.MissedCycles)
	assert.Equal(t, int64(1), st.SuccessfulCycles)
	assert.Equal(t, int64(7), st.Errors)
	assert.Equal(t, 0, st.ConsecutiveFailures)
	assert.Equal(t, replica.Warning, rel.Health().Level)

	rel.ResetStats()
	st = rel.Stats()
	assert.Equal(t, epoch.Add(65*time.Minute), st.WindowStart)
	assert.Equal(t, int64(0), st.MissedCycles+st.Errors+st.SuccessfulCycles)
	assert.Equal(t, replica.Health{Level: replica.Normal}, rel.Health())
}

// Suspending stops the schedule and its missed-cycle count; resuming
// starts a new slot from the moment of the resume.
func TestSuspendResume(t *testing.T) {
	e := newEnv(t)
	cfg, vols := groupConfig("vm1", 64<<10, 1)
	rel, err := e.primary.Enable(e.ctx, cfg)
	require.NoError(t, err)
	e.run()
	require.NoError(t, e.event().Err)
	e.waitTimers(1)

	require.NoError(t, rel.Suspend(e.ctx))
	assert.Equal(t, replica.Suspended, rel.State())
	e.waitTimers(0) // the schedule dropped its timer
	fill(t, rel.Volume(0), 0, 4096, 1)
	e.clk.Advance(30 * time.Minute)
	e.noEvent()
	st := rel.Stats()
	assert.Equal(t, int64(0), st.MissedCycles)
	assert.Equal(t, int64(4096), st.PendingBytes, "writes are tracked while suspended")
	assert.Equal(t, replica.Health{Level: replica.Warning, Reasons: []string{"replication is suspended"}}, rel.Health())
	_, err = rel.Cycle(e.ctx)
	assert.ErrorIs(t, err, replica.ErrInvalidState)
	assert.ErrorIs(t, rel.Suspend(e.ctx), replica.ErrInvalidState)

	require.NoError(t, rel.Resume(e.ctx))
	assert.Equal(t, replica.Replicating, rel.State())
	assert.ErrorIs(t, rel.Resume(e.ctx), replica.ErrInvalidState)
	e.waitTimers(1)
	assert.Equal(t, []time.Time{epoch.Add(35 * time.Minute)}, e.clk.Deadlines())
	e.clk.Advance(5 * time.Minute)
	ev := e.event()
	require.NoError(t, ev.Err)
	assert.Equal(t, int64(1), ev.Result.Blocks)
	assert.Equal(t, [][]byte{vols[0].snapshot()}, e.pointImages("vm1", ev.Result.Point))
	assert.Equal(t, replica.Normal, rel.Health().Level)
}

// Initial replication can be scheduled: Run starts it at the given time.
func TestScheduledInitialReplication(t *testing.T) {
	e := newEnv(t)
	cfg, vols := groupConfig("vm1", 64<<10, 1)
	fill(t, vols[0], 8192, 20000, 2)
	var progress [][2]int64
	cfg.Initial = replica.InitialReplication{
		Mode:     replica.Network,
		At:       epoch.Add(2 * time.Hour),
		Progress: func(done, total int64) { progress = append(progress, [2]int64{done, total}) },
	}
	rel, err := e.primary.Enable(e.ctx, cfg)
	require.NoError(t, err)
	e.run()
	e.waitTimers(1)
	assert.Equal(t, []time.Time{epoch.Add(2 * time.Hour)}, e.clk.Deadlines())
	assert.Equal(t, replica.InitialReplicationPending, rel.State())
	e.clk.Advance(2 * time.Hour)
	ev := e.event()
	require.NoError(t, ev.Err)
	assert.True(t, ev.Initial)
	assert.Equal(t, replica.Replicating, rel.State())
	// 20000 bytes from 8192 touch blocks 2..6: five 4 KiB blocks.
	assert.Equal(t, int64(5), ev.Result.Blocks)
	require.NotEmpty(t, progress)
	assert.Equal(t, [2]int64{5 * 4096, 5 * 4096}, progress[len(progress)-1])
	st := rel.Stats()
	assert.Equal(t, int64(5*4096), st.InitialBytesDone)
	assert.Equal(t, [][]byte{vols[0].snapshot()}, e.pointImages("vm1", ev.Result.Point))
	e.waitTimers(1)
	assert.Equal(t, []time.Time{epoch.Add(2*time.Hour + 5*time.Minute)}, e.clk.Deadlines())
}

// Closing the primary host while a scheduled cycle waits on a silent
// replica cancels the cycle, restores its blocks and returns.
func TestCloseDuringCycle(t *testing.T) {
	e := newEnv(t)
	cfg, _ := groupConfig("vm1", 64<<10, 1)
	rel, err := e.primary.Enable(e.ctx, cfg)
	require.NoError(t, err)
	e.run()
	require.NoError(t, e.event().Err)
	e.waitTimers(1)

	fill(t, rel.Volume(0), 0, 4096, 1)
	answered := make(chan struct{}, 1)
	e.net.SetFaults("replica", "primary", memory.Faults{Hook: func(memory.FrameInfo) memory.Action {
		select {
		case answered <- struct{}{}:
		default:
		}
		return memory.Drop
	}})
	e.clk.Advance(5 * time.Minute)
	<-answered // the cycle now waits for an acknowledgement that never comes
	require.NoError(t, e.primary.Close())
	ev := e.event()
	require.ErrorIs(t, ev.Err, context.Canceled)
	st := rel.Stats()
	assert.Equal(t, int64(0), st.Errors, "stopping is not a replication error")
	assert.Equal(t, int64(4096), st.PendingBytes)
	_, err = rel.Cycle(e.ctx)
	assert.ErrorIs(t, err, replica.ErrClosed)
}
