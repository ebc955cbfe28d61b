package replica_test

import (
	"sync"
	"sync/atomic"
	"testing"

	"github.com/blockrep/blockrep/replica"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// hookVolume calls the function stored in onRead, once, at its first read
// after it is set.
type hookVolume struct {
	*memVolume
	onRead atomic.Pointer[func()]
	once   sync.Once
}

func (v *hookVolume) ReadAt(p []byte, off int64) (int, error) {
	if f := v.onRead.Load(); f != nil {
		v.once.Do(*f)
	}
	return v.memVolume.ReadAt(p, off)
}

// While a resynchronization runs, the relationship is Resynchronizing and
// its health is Warning with the reason; after it, Normal again.
func TestHealthWhileResynchronizing(t *testing.T) {
	e := newEnv(t)
	cfg, vols := groupConfig("vm1", 64<<10, 1)
	hv := &hookVolume{memVolume: vols[0]}
	cfg.Volumes[0].Volume = hv
	rel, err := e.primary.Enable(e.ctx, cfg)
	require.NoError(t, err)
	fill(t, rel.Volume(0), 8192, 4096, 1)
	_, err = rel.InitialReplication(e.ctx)
	require.NoError(t, err)
	e.event()
	require.Equal(t, replica.Health{Level: replica.Normal}, rel.Health())

	var during replica.Health
	var state replica.State
	hook := func() { state, during = rel.State(), rel.Health() }
	hv.onRead.Store(&hook)
	_, err = rel.Resynchronize(e.ctx)
	require.NoError(t, err)
	require.NoError(t, e.event().Err)

	assert.Equal(t, replica.Resynchronizing, state)
	assert.Equal(t, replica.Health{Level: replica.Warning, Reasons: []string{
		"resynchronization in progress: the blocks that differ between primary and replica are being compared and sent"}}, during)
	assert.Equal(t, replica.Replicating, rel.State())
	assert.Equal(t, replica.Health{Level: replica.Normal}, rel.Health())
}
