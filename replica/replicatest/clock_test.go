package replicatest_test

import (
	"context"
	"testing"
	"time"

	"github.com/blockrep/blockrep/replica/replicatest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

func fired(c <-chan time.Time) (time.Time, bool) {
	select {
	case at := <-c:
		return at, true
	default:
		return time.Time{}, false
	}
}

func TestTimersFireInDeadlineOrder(t *testing.T) {
	c := replicatest.NewClock(t0)
	a := c.NewTimer(3 * time.Minute)
	b := c.NewTimer(time.Minute)
	d := c.NewTimer(10 * time.Minute)
	assert.Equal(t, 3, c.Timers())
	assert.Equal(t, []time.Time{t0.Add(time.Minute), t0.Add(3 * time.Minute), t0.Add(10 * time.Minute)}, c.Deadlines())

	c.Advance(59 * time.Second)
	_, ok := fired(b.C())
	assert.False(t, ok)

	c.Advance(3 * time.Minute)
	at, ok := fired(b.C())
	require.True(t, ok)
	assert.Equal(t, t0.Add(time.Minute), at)
	at, ok = fired(a.C())
	require.True(t, ok)
	assert.Equal(t, t0.Add(3*time.Minute), at)
	assert.Equal(t, t0.Add(3*time.Minute+59*time.Second), c.Now())
	assert.Equal(t, 1, c.Timers())

	assert.True(t, d.Stop())
	assert.False(t, d.Stop())
	c.Advance(time.Hour)
	_, ok = fired(d.C())
	assert.False(t, ok, "a stopped timer never fires")
	assert.False(t, a.Stop(), "a fired timer cannot be stopped")
}

func TestZeroTimerFiresAtOnce(t *testing.T) {
	c := replicatest.NewClock(t0)
	at, ok := fired(c.NewTimer(0).C())
	require.True(t, ok)
	assert.Equal(t, t0, at)
	assert.Equal(t, 0, c.Timers())
	at, ok = fired(c.After(-time.Second))
	require.True(t, ok)
	assert.Equal(t, t0, at)
}

func TestSetAndBackwards(t *testing.T) {
	c := replicatest.NewClock(t0)
	tm := c.NewTimer(time.Hour)
	c.Set(t0.Add(2 * time.Hour))
	at, ok := fired(tm.C())
	require.True(t, ok)
	assert.Equal(t, t0.Add(time.Hour), at)
	assert.Panics(t, func() { c.Set(t0) })
	assert.Panics(t, func() { c.Advance(-1) })
}

func TestBlockUntil(t *testing.T) {
	c := replicatest.NewClock(t0)
	armed := make(chan struct{})
	go func() {
		<-armed
		c.NewTimer(time.Minute)
		c.NewTimer(time.Minute)
	}()
	close(armed)
	require.NoError(t, c.BlockUntil(context.Background(), 2))
	assert.Equal(t, 2, c.Timers())

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	assert.ErrorIs(t, c.BlockUntil(ctx, 5), context.Canceled)
	c.Advance(time.Minute)
	require.NoError(t, c.BlockUntil(context.Background(), 0))
}
