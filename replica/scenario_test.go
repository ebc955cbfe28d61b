package replica_test

import (
	"math/rand/v2"
	"testing"

	"github.com/blockrep/blockrep/checkpoint/vfs"
	"github.com/blockrep/blockrep/replica"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// A user enables a group, sends the initial copy, writes and runs cycles
// by hand; every point on the replica is the primary's image. The replica
// keeps its store in memory, then on disk.
func TestEnableInitialAndManualCycles(t *testing.T) {
	t.Run("memory store", func(t *testing.T) { enableInitialAndManualCycles(t, withStoreDir(vfs.NewMem(), "store")) })
	t.Run("disk store", func(t *testing.T) { enableInitialAndManualCycles(t, withStoreDir(vfs.OS(), t.TempDir())) })
}

func enableInitialAndManualCycles(t *testing.T, store envOption) {
	e := newEnv(t, store)
	seed := uint64(42)
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 0))

	cfg, vols := groupConfig("vm1", 256<<10, 1)
	buf := make([]byte, 8192)
	for i := range buf {
		buf[i] = byte(rng.IntN(256))
	}
	_, err := vols[0].WriteAt(buf, 4096*3) // content before enable
	require.NoError(t, err)

	rel, err := e.primary.Enable(e.ctx, cfg)
	require.NoError(t, err)
	assert.Equal(t, replica.InitialReplicationPending, rel.State())

	res, err := rel.InitialReplication(e.ctx)
	require.NoError(t, err)
	e.event()
	assert.Equal(t, replica.Replicating, rel.State())
	assert.Equal(t, [][]byte{vols[0].snapshot()}, e.pointImages("vm1", res.Point))

	for c := range 3 {
		_, err := rel.Volume(0).WriteAt(buf[:4096+c], int64(c)*9000)
		require.NoError(t, err)
		want := vols[0].snapshot()
		res, err := rel.Cycle(e.ctx)
		require.NoError(t, err)
		ev := e.event()
		require.NoError(t, ev.Err)
		assert.Equal(t, [][]byte{want}, e.pointImages("vm1", res.Point))
	}
	st := rel.Stats()
	assert.Equal(t, int64(3), st.SuccessfulCycles)
	assert.Equal(t, int64(0), st.Errors)
	assert.Len(t, e.points("vm1"), 1) // retention keeps the latest only
}
