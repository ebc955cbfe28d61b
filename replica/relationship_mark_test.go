package replica_test

import (
	"math/rand/v2"
	"testing"

	"github.com/blockrep/blockrep/delta"
	"github.com/blockrep/blockrep/replica"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestMarkChanged writes the volumes behind the tracker's back, finds the
// changes with delta.Scan and marks them: the next cycle makes the replica's
// point equal to the files, and it carries exactly the changed blocks.
func TestMarkChanged(t *testing.T) {
	const size = 256 << 10
	seed := uint64(6061)
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, seed))
	e := newEnv(t)
	cfg, vols := groupConfig("vm1", size, 2)
	rel, err := e.primary.Enable(e.ctx, cfg)
	require.NoError(t, err)
	res, err := rel.InitialReplication(e.ctx)
	require.NoError(t, err)

	geom := delta.Geometry{Size: size, BlockSize: cfg.BlockSize}
	prev := make([]*delta.PageHashes, len(vols))
	for i, v := range vols {
		s, err := delta.Scan(e.ctx, v, geom, nil)
		require.NoError(t, err)
		prev[i] = s.Hashes
	}

	// Untracked writes: straight to the backing volumes, not rel.Volume.
	want := map[int]int64{}
	for i, v := range vols {
		touched := map[int64]bool{}
		for range 5 + i*3 {
			off := rng.Int64N(size - 100)
			buf := make([]byte, 1+rng.IntN(99))
			for j := range buf {
				buf[j] = byte(rng.UintN(255) + 1)
			}
			_, err := v.WriteAt(buf, off)
			require.NoError(t, err)
			for b := geom.BlockOf(off); b <= geom.BlockOf(off+int64(len(buf))-1); b++ {
				touched[b] = true
			}
		}
		want[i] = int64(len(touched))
	}
	var total int64
	for i, v := range vols {
		s, err := delta.Scan(e.ctx, v, geom, prev[i])
		require.NoError(t, err)
		require.Equal(t, want[i], s.Blocks.Count(), "volume %d", i)
		require.NoError(t, rel.MarkChanged(i, s.Blocks))
		total += s.Blocks.Count()
	}
	cyc, err := rel.Cycle(e.ctx)
	require.NoError(t, err)
	assert.Equal(t, res.Point, cyc.Base)
	assert.Equal(t, total, cyc.Blocks)
	imgs := e.pointImages("vm1", cyc.Point)
	for i, v := range vols {
		assert.Equal(t, v.snapshot(), imgs[i], "volume %d", i)
	}

	// Nothing left dirty: the next cycle sends no block.
	cyc2, err := rel.Cycle(e.ctx)
	require.NoError(t, err)
	assert.Equal(t, int64(0), cyc2.Blocks)
}

func TestMarkChangedRefusesBadInput(t *testing.T) {
	const size = 64 << 10
	e := newEnv(t)
	cfg, _ := groupConfig("vm1", size, 2)
	cfg.Volumes[1].Excluded = true
	rel, err := e.primary.Enable(e.ctx, cfg)
	require.NoError(t, err)
	blocks := int64(size / cfg.BlockSize)
	full := delta.NewSet(blocks)
	full.AddRange(0, blocks)
	cases := map[string]struct {
		vol int
		set *delta.Set
	}{
		"negative index":  {-1, full},
		"index past end":  {2, full},
		"excluded volume": {1, full},
		"nil set":         {0, nil},
		"short set":       {0, delta.NewSet(blocks - 1)},
		"long set":        {0, delta.NewSet(blocks + 1)},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			assert.ErrorIs(t, rel.MarkChanged(c.vol, c.set), replica.ErrInvalidConfig)
		})
	}
	// Nothing was marked: the initial copy of an all-zero volume is empty
	// and the next cycle sends nothing.
	_, err = rel.InitialReplication(e.ctx)
	require.NoError(t, err)
	cyc, err := rel.Cycle(e.ctx)
	require.NoError(t, err)
	assert.Equal(t, int64(0), cyc.Blocks)

	require.NoError(t, e.primary.Remove(e.ctx, "vm1"))
	assert.ErrorIs(t, rel.MarkChanged(0, full), replica.ErrClosed)
}
