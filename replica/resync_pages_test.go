package replica_test

import (
	"maps"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/blockrep/blockrep/delta"
	"github.com/blockrep/blockrep/replica"
	"github.com/blockrep/blockrep/transport/memory"
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

// A resynchronization whose connection is cut at any frame, in either
// direction — the tree queries, the page-digest query or its answer, the
// delta, the acknowledgement — loses nothing: the relationship requires
// resynchronization again, and the next attempt sends exactly the pages
// that differ with those the failed attempt froze and put back (the same
// ones, though the replica holds them when the cut one's point was
// committed) and makes the replica equal to the primary byte for byte.
func TestResyncPagesCutAtEveryFrame(t *testing.T) {
	const (
		bs    = 16 << 10
		size  = 16 * bs
		pages = size / delta.PageSize
	)
	seed := uint64(5150)
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 4))
	e := newEnv(t)
	cfg, vols := groupConfig("vm1", size, 1)
	cfg.BlockSize = bs
	random := func(n int) []byte {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(rng.Uint32())
		}
		return b
	}
	_, err := vols[0].WriteAt(random(size), 0)
	require.NoError(t, err)
	rel, err := e.primary.Enable(e.ctx, cfg)
	require.NoError(t, err)
	_, err = rel.InitialReplication(e.ctx)
	require.NoError(t, err)
	e.event()

	for _, dir := range [][2]string{{"replica", "primary"}, {"primary", "replica"}} {
		for k := int64(0); ; k++ {
			require.Less(t, k, int64(200), "a resynchronization of this size crosses fewer frames")
			changed := map[int64]bool{}
			for len(changed) < 5 {
				changed[rng.Int64N(pages)] = true
			}
			for _, p := range slices.Sorted(maps.Keys(changed)) {
				_, err := vols[0].WriteAt(random(delta.PageSize), p*delta.PageSize)
				require.NoError(t, err)
			}
			pts := e.points("vm1")
			before := pts[len(pts)-1].ID
			e.net.SetFaults(dir[0], dir[1], memory.Faults{Hook: func(fi memory.FrameInfo) memory.Action {
				if fi.Index == k {
					return memory.Cut
				}
				return memory.Deliver
			}})
			_, err := rel.Resynchronize(e.ctx)
			e.event()
			e.net.SetFaults(dir[0], dir[1], memory.Faults{})
			if err == nil {
				assert.Equal(t, [][]byte{vols[0].snapshot()}, e.pointImages("vm1", rel.LastResync().Point))
				t.Logf("%s to %s: %d frames", dir[0], dir[1], k)
				break
			}
			require.Equal(t, replica.ResynchronizationRequired, rel.State(), "cut at frame %d from %s: %v", k, dir[0], err)
			pts = e.points("vm1")
			committed := pts[len(pts)-1].ID != before

			res, err := rel.Resynchronize(e.ctx)
			require.NoError(t, err, "after the cut at frame %d from %s", k, dir[0])
			e.event()
			differing := int64(len(changed))
			if committed {
				differing = 0 // the cut point holds them already
			}
			assert.Equal(t, differing, res.DifferingPages, "cut at frame %d from %s", k, dir[0])
			// The pages of a failed attempt went back to the tracker, so
			// they are sent again even when the replica holds them.
			assert.Equal(t, int64(len(changed)), res.Pages, "cut at frame %d from %s", k, dir[0])
			assert.Equal(t, [][]byte{vols[0].snapshot()}, e.pointImages("vm1", res.Point), "cut at frame %d from %s", k, dir[0])
		}
	}
}
