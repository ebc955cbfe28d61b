package replica_test

import (
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	"github.com/blockrep/blockrep/replica"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestInitialReplicationSparseFile: the first copy of a sparse file (read
// through its data ranges on Linux) reaches the replica byte for byte, and
// so does a write made into a hole afterwards.
func TestInitialReplicationSparseFile(t *testing.T) {
	e := newEnv(t)
	seed := uint64(7)
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 0))
	const size = 4<<20 + 4096
	f, err := os.Create(filepath.Join(t.TempDir(), "vol.img"))
	require.NoError(t, err)
	defer f.Close()
	require.NoError(t, f.Truncate(size))
	data := make([]byte, 3*4096)
	for i := range data {
		data[i] = byte(rng.IntN(256))
	}
	for _, off := range []int64{0, 1<<20 + 512, size - 4096} {
		_, err := f.WriteAt(data[:min(len(data), int(size-off))], off)
		require.NoError(t, err)
	}
	cfg, _ := groupConfig("sparse", size, 0)
	cfg.Volumes = []replica.VolumeConfig{{Name: "disk", Volume: f, Size: size}}
	rel, err := e.primary.Enable(e.ctx, cfg)
	require.NoError(t, err)
	res, err := rel.InitialReplication(e.ctx)
	require.NoError(t, err)
	e.event()
	want := make([]byte, size)
	_, err = f.ReadAt(want, 0)
	require.NoError(t, err)
	assert.Equal(t, [][]byte{want}, e.pointImages("sparse", res.Point))

	_, err = rel.Volume(0).WriteAt(data[:4096], 3<<20)
	require.NoError(t, err)
	res, err = rel.Cycle(e.ctx)
	require.NoError(t, err)
	e.event()
	_, err = f.ReadAt(want, 0)
	require.NoError(t, err)
	assert.Equal(t, [][]byte{want}, e.pointImages("sparse", res.Point))
}
