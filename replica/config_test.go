package replica_test

import (
	"testing"
	"time"

	"github.com/blockrep/blockrep/replica"
	"github.com/blockrep/blockrep/transport/memory"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestHostConfigsValidate(t *testing.T) {
	net, err := memory.NewNetwork(1)
	require.NoError(t, err)
	ep := net.Endpoint("p")
	primaries := map[string]replica.PrimaryConfig{
		"no transport":     {},
		"negative retry":   {Transport: ep, RetryInterval: -time.Second},
		"zero backoff":     {Transport: ep, Backoff: []time.Duration{time.Minute, 0}},
		"chunk over frame": {Transport: ep, ChunkSize: 1 << 30},
	}
	for name, cfg := range primaries {
		_, err := replica.NewPrimaryHost(cfg)
		assert.ErrorIs(t, err, replica.ErrInvalidConfig, name)
	}
	replicas := map[string]replica.ReplicaConfig{
		"empty":              {},
		"negative max conns": {MaxConnections: -1},
	}
	for name, cfg := range replicas {
		_, err := replica.NewReplicaHost(cfg)
		assert.ErrorIs(t, err, replica.ErrInvalidConfig, name)
	}
}

// A custom back-off schedule is followed step by step.
func TestCustomBackoff(t *testing.T) {
	e := newEnv(t)
	require.NoError(t, e.primary.Close())
	var err error
	e.primary, err = replica.NewPrimaryHost(replica.PrimaryConfig{
		Transport: e.net.Endpoint("primary"), Clock: e.clk, Rand: &countingReader{},
		Backoff: []time.Duration{10 * time.Second}, RetryInterval: 20 * time.Second,
		OnCycle: func(ev replica.CycleEvent) { e.events <- ev },
	})
	require.NoError(t, err)
	e.net.Partition("primary", "replica")
	cfg, _ := groupConfig("vm1", 64<<10, 1)
	cfg.Frequency = time.Hour
	_, err = e.primary.Enable(e.ctx, cfg)
	require.Error(t, err, "Enable needs the replica")

	e.net.HealAll()
	_, err = e.primary.Enable(e.ctx, cfg)
	require.NoError(t, err)
	e.net.Partition("primary", "replica")
	e.run()
	for _, wait := range []time.Duration{0, 10 * time.Second, 20 * time.Second, 20 * time.Second} {
		if wait > 0 {
			e.waitTimers(1)
			assert.Equal(t, []time.Time{e.clk.Now().Add(wait)}, e.clk.Deadlines())
			e.clk.Advance(wait)
		}
		ev := e.event()
		require.Error(t, ev.Err)
		assert.True(t, ev.Initial, "initial replication is retried with the same back-off")
	}
}

func TestRunTwiceAndAfterClose(t *testing.T) {
	e := newEnv(t)
	cfg, _ := groupConfig("vm1", 64<<10, 1)
	cfg.Initial.At = epoch.Add(time.Hour)
	_, err := e.primary.Enable(e.ctx, cfg)
	require.NoError(t, err)
	e.run()
	e.waitTimers(1) // Run is running: its schedule armed a timer
	assert.ErrorIs(t, e.primary.Run(e.ctx), replica.ErrRunning)
	require.NoError(t, e.primary.Close())
	assert.ErrorIs(t, e.primary.Run(e.ctx), replica.ErrClosed)
	_, err = e.primary.Enable(e.ctx, cfg)
	assert.ErrorIs(t, err, replica.ErrClosed)
	assert.NoError(t, e.primary.Close(), "Close is idempotent")
}
