package replica_test

import (
	"maps"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/blockrep/blockrep/delta"
	"github.com/blockrep/blockrep/replica"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// A resynchronization narrows the differing blocks to their differing
// pages: for a seeded set of pages changed behind the tracker's back (one
// of them rewritten with its own content, which is no change), the delta
// carries exactly the changed pages, the page digests cost six bytes a
// page of the differing blocks plus the queries, and the replica's point
// is the primary's volume byte for byte.
func TestResyncSendsDifferingPages(t *testing.T) {
	const (
		bs    = 16 << 10 // four pages a block
		size  = 64*bs + 3000
		pages = (size + delta.PageSize - 1) / delta.PageSize
	)
	seed := uint64(31337)
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 3))
	e := newEnv(t)
	cfg, vols := groupConfig("vm1", size, 2)
	cfg.BlockSize = bs
	random := func(n int64) []byte {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(rng.Uint32())
		}
		return b
	}
	for _, v := range vols {
		_, err := v.WriteAt(random(size), 0)
		require.NoError(t, err)
	}
	rel, err := e.primary.Enable(e.ctx, cfg)
	require.NoError(t, err)
	first, err := rel.InitialReplication(e.ctx)
	require.NoError(t, err)
	e.event()

	// Volume 0: 20 pages, the short last one among them; volume 1: one
	// page rewritten with its own content.
	changed := map[int64]bool{pages - 1: true}
	for len(changed) < 20 {
		changed[rng.Int64N(pages)] = true
	}
	blocks := map[int64]bool{}
	for _, p := range slices.Sorted(maps.Keys(changed)) {
		off := p * delta.PageSize
		_, err := vols[0].WriteAt(random(min(delta.PageSize, size-off)), off)
		require.NoError(t, err)
		blocks[off/bs] = true
	}
	same := vols[1].snapshot()[5*delta.PageSize : 6*delta.PageSize]
	_, err = vols[1].WriteAt(same, 5*delta.PageSize)
	require.NoError(t, err)

	res, err := rel.Resynchronize(e.ctx)
	require.NoError(t, err)
	e.event()
	assert.Equal(t, first.Point, res.Base)
	assert.Equal(t, replica.Replicating, rel.State())
	assert.Equal(t, int64(len(blocks)), res.DifferingBlocks)
	assert.Equal(t, int64(len(blocks)), res.Blocks)
	assert.Equal(t, int64(len(changed)), res.DifferingPages)
	assert.Equal(t, int64(len(changed)), res.Pages, "the changed pages and no other")
	assert.Equal(t, [][]byte{vols[0].snapshot(), vols[1].snapshot()}, e.pointImages("vm1", res.Point))

	// One page query for volume 0's blocks, none for volume 1's (no
	// differing block): 6 bytes a page of the differing blocks (the last
	// one has one page), and the frames around them.
	digests := int64(len(blocks)*4*6 - 3*6)
	require.True(t, blocks[64], "the short last block is among the differing ones")
	assert.GreaterOrEqual(t, res.PageHashBytes, digests)
	assert.LessOrEqual(t, res.PageHashBytes, digests+200, "digests and two frames of a short query and its answer")
	assert.Less(t, res.PageHashBytes, res.HashBytes)
	t.Logf("hash traffic %d bytes (%d of page digests) in %d rounds, delta %d bytes", res.HashBytes, res.PageHashBytes, res.HashRounds, res.StreamBytes)

	// Nothing is left dirty.
	cyc, err := rel.Cycle(e.ctx)
	require.NoError(t, err)
	e.event()
	assert.Equal(t, int64(0), cyc.Blocks)
}
