package replica_test

import (
	"bytes"
	"math/rand/v2"
	"slices"
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

// TestMarkChangedPages writes pages behind the tracker's back and marks
// only some of them: the cycle carries exactly the marked pages — the
// replica's point gets those and keeps its old content in every other page,
// the unmarked changed pages of the same blocks included. A scan's
// ChangedPages then brings the rest, and the two sides are equal.
func TestMarkChangedPages(t *testing.T) {
	const (
		bs    = 16 << 10 // four pages a block
		size  = 32*bs + 5000
		pages = (size + delta.PageSize - 1) / delta.PageSize
	)
	seed := uint64(4242)
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, seed))
	e := newEnv(t)
	cfg, vols := groupConfig("vm1", size, 1)
	cfg.BlockSize = bs
	vol := vols[0]
	random := func(n int) []byte {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(rng.Uint32())
		}
		return b
	}
	_, err := vol.WriteAt(random(size), 0)
	require.NoError(t, err)
	rel, err := e.primary.Enable(e.ctx, cfg)
	require.NoError(t, err)
	first, err := rel.InitialReplication(e.ctx)
	require.NoError(t, err)
	old := vol.snapshot()
	require.Equal(t, [][]byte{old}, e.pointImages("vm1", first.Point))
	geom := delta.Geometry{Size: size, BlockSize: bs}
	oldScan, err := delta.Scan(e.ctx, bytes.NewReader(old), geom, nil)
	require.NoError(t, err)

	// Change 24 pages (the short last one among them), mark every other one.
	changed := []int64{pages - 1}
	for len(changed) < 24 {
		p := rng.Int64N(pages - 1)
		if !slices.Contains(changed, p) {
			changed = append(changed, p)
		}
	}
	marked := delta.NewSet(pages)
	for i, p := range changed {
		off := p * delta.PageSize
		_, err := vol.WriteAt(random(int(min(delta.PageSize, size-off))), off)
		require.NoError(t, err)
		if i%2 == 0 {
			marked.Add(p)
		}
	}
	require.NoError(t, rel.MarkChangedPages(0, marked))
	cyc, err := rel.Cycle(e.ctx)
	require.NoError(t, err)
	want := slices.Clone(old)
	now := vol.snapshot()
	blocks := map[int64]bool{}
	for p := range marked.All() {
		off := p * delta.PageSize
		end := min(off+delta.PageSize, size)
		copy(want[off:end], now[off:end])
		blocks[off/bs] = true
	}
	assert.Equal(t, int64(len(blocks)), cyc.Blocks)
	assert.Equal(t, [][]byte{want}, e.pointImages("vm1", cyc.Point), "the marked pages and nothing else")

	// The scan against the initial content finds every changed page; the
	// marked ones again (their content is the replica's now) and the rest.
	s, err := delta.Scan(e.ctx, vol, geom, oldScan.Hashes)
	require.NoError(t, err)
	require.Equal(t, int64(len(changed)), s.ChangedPages.Count())
	require.NoError(t, rel.MarkChangedPages(0, s.ChangedPages))
	cyc, err = rel.Cycle(e.ctx)
	require.NoError(t, err)
	assert.Equal(t, s.Blocks.Count(), cyc.Blocks)
	assert.Equal(t, [][]byte{now}, e.pointImages("vm1", cyc.Point))
}

func TestMarkChangedPagesRefusesBadInput(t *testing.T) {
	const size = 64<<10 + 100
	e := newEnv(t)
	cfg, _ := groupConfig("vm1", size, 2)
	cfg.Volumes[1].Excluded = true
	rel, err := e.primary.Enable(e.ctx, cfg)
	require.NoError(t, err)
	pages := int64(size+delta.PageSize-1) / delta.PageSize
	full := delta.NewSet(pages)
	full.AddRange(0, pages)
	cases := map[string]struct {
		vol int
		set *delta.Set
	}{
		"negative index":         {-1, full},
		"index past end":         {2, full},
		"excluded volume":        {1, full},
		"nil set":                {0, nil},
		"set without short page": {0, delta.NewSet(pages - 1)},
		"long set":               {0, delta.NewSet(pages + 1)},
		"set of blocks":          {0, delta.NewSet(int64(size / cfg.BlockSize))},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			assert.ErrorIs(t, rel.MarkChangedPages(c.vol, c.set), replica.ErrInvalidConfig)
		})
	}
	_, err = rel.InitialReplication(e.ctx)
	require.NoError(t, err)
	cyc, err := rel.Cycle(e.ctx)
	require.NoError(t, err)
	assert.Equal(t, int64(0), cyc.Blocks, "nothing was marked")

	require.NoError(t, e.primary.Remove(e.ctx, "vm1"))
	assert.ErrorIs(t, rel.MarkChangedPages(0, full), replica.ErrClosed)
}
