package delta

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// treeExchange runs the top-down comparison of local against remote as two
// sides would over a network, and returns the differing blocks, the
// number of hashes the peer sent and the bytes of wanted sets the driver
// sent.
func treeExchange(t *testing.T, local, remote *HashTree) (*Set, int, int) {
	t.Helper()
	d := NewDiffer(local)
	hashes, setBytes := 0, 0
	for rounds := 0; !d.Done(); rounds++ {
		require.Less(t, rounds, local.Levels(), "one round a level at most")
		// Driver → peer: the level and the wanted nodes.
		msg, err := d.Want().AppendBinary(nil)
		require.NoError(t, err)
		setBytes += len(msg) + 1
		want, n, err := UnmarshalSet(msg, remote.Width(d.Level()))
		require.NoError(t, err)
		require.Equal(t, len(msg), n)
		// Peer → driver: the hashes of those nodes.
		answer, err := remote.AppendNodes(nil, d.Level(), want)
		require.NoError(t, err)
		wire := AppendHashes(nil, answer)
		got, err := ParseHashes(wire, int(d.Want().Count()))
		require.NoError(t, err)
		hashes += len(wire) / HashSize
		require.NoError(t, d.Compare(got))
	}
	assert.Equal(t, -1, d.Level())
	assert.True(t, d.Want().Empty())
	return d.Differing(), hashes, setBytes
}

// treeExpectedHashes counts, from the true differing blocks alone, how
// many node hashes a top-down exchange needs: the top node, then every
// child of every node whose range holds a differing block.
func treeExpectedHashes(blocks int64, fanout int, diff *Set) int {
	widths := []int64{blocks}
	for widths[len(widths)-1] > 1 {
		widths = append(widths, (widths[len(widths)-1]+int64(fanout)-1)/int64(fanout))
	}
	total := 1
	span := int64(1) // blocks under one node of level k
	for k := 1; k < len(widths); k++ {
		span *= int64(fanout)
		nodes := map[int64]bool{}
		for b := range diff.All() {
			nodes[b/span] = true
		}
		for j := range nodes {
			total += int(min(int64(fanout), widths[k-1]-j*int64(fanout)))
		}
	}
	return total
}

func TestDifferExchangeIsSmall(t *testing.T) {
	rng := hashTestRand(t)
	const blocks = 16384
	g := Geometry{Size: blocks * 65536, BlockSize: 65536}
	a := hashTestList(t, g, 1)
	b := a.Clone()
	truth := NewSet(blocks)
	for truth.Count() < blocks/100 {
		i := rng.Int64N(blocks)
		truth.Add(i)
		b.Set(i, HashBlock([]byte{2, byte(i), byte(i >> 8)}))
	}
	all := blocks * HashSize
	for _, c := range []struct {
		fanout  int
		maxPart float64 // bound on hash bytes as a share of all block hashes
	}{{2, 0.25}, {4, 0.2}, {8, 0.2}, {16, 0.25}, {64, 0.6}} {
		ta, err := NewHashTree(a, c.fanout)
		require.NoError(t, err)
		tb, err := NewHashTree(b, c.fanout)
		require.NoError(t, err)
		got, hashes, setBytes := treeExchange(t, ta, tb)
		require.True(t, truth.Equal(got), "fan-out %d: the exchange finds exactly the differing blocks", c.fanout)
		assert.Equal(t, treeExpectedHashes(blocks, c.fanout, truth), hashes, "fan-out %d", c.fanout)
		bytes := hashes * HashSize
		t.Logf("fan-out %4d: %d levels, %6d hash bytes + %5d index bytes = %5.1f%% of all %d block hash bytes",
			c.fanout, ta.Levels(), bytes, setBytes, 100*float64(bytes+setBytes)/float64(all), all)
		assert.Less(t, float64(bytes+setBytes), c.maxPart*float64(all), "fan-out %d", c.fanout)
	}
}

func TestDifferEdgeCases(t *testing.T) {
	g := Geometry{Size: 1000 * PageSize, BlockSize: PageSize}
	a := hashTestList(t, g, 1)
	ta, err := NewHashTree(a, 0)
	require.NoError(t, err)

	t.Run("identical", func(t *testing.T) {
		tb, err := NewHashTree(a.Clone(), 0)
		require.NoError(t, err)
		got, hashes, _ := treeExchange(t, ta, tb)
		assert.True(t, got.Empty())
		assert.Equal(t, int64(1000), got.Len())
		assert.Equal(t, 1, hashes, "equal trees cost the top node only")
	})
	t.Run("everything differs", func(t *testing.T) {
		tb, err := NewHashTree(hashTestList(t, g, 2), 0)
		require.NoError(t, err)
		got, hashes, _ := treeExchange(t, ta, tb)
		assert.Equal(t, int64(1000), got.Count())
		assert.Equal(t, 1+4+63+1000, hashes)
	})
	t.Run("last block only", func(t *testing.T) {
		b := a.Clone()
		b.Set(999, Hash{9})
		tb, err := NewHashTree(b, 0)
		require.NoError(t, err)
		got, hashes, _ := treeExchange(t, ta, tb)
		assert.Equal(t, []int64{999}, hashMembers(got))
		assert.Equal(t, 1+4+15+8, hashes, "top, 4 level-2 nodes, 15 children of the last, its last node's 8 blocks")
	})
	t.Run("no blocks", func(t *testing.T) {
		e, err := NewHashList(Geometry{Size: 0, BlockSize: PageSize})
		require.NoError(t, err)
		te, err := NewHashTree(e, 0)
		require.NoError(t, err)
		d := NewDiffer(te)
		assert.True(t, d.Done())
		assert.Equal(t, int64(0), d.Differing().Len())
	})
	t.Run("one block", func(t *testing.T) {
		one := hashTestList(t, Geometry{Size: 10, BlockSize: PageSize}, 1)
		other := one.Clone()
		other.Set(0, Hash{1})
		t1, err := NewHashTree(one, 0)
		require.NoError(t, err)
		t2, err := NewHashTree(other, 0)
		require.NoError(t, err)
		got, hashes, _ := treeExchange(t, t1, t2)
		assert.Equal(t, []int64{0}, hashMembers(got))
		assert.Equal(t, 1, hashes)
	})
	t.Run("wrong answers", func(t *testing.T) {
		d := NewDiffer(ta)
		assert.ErrorIs(t, d.Compare(nil), ErrMismatch)
		assert.ErrorIs(t, d.Compare(make([]Hash, 2)), ErrMismatch)
		assert.Equal(t, ta.Levels()-1, d.Level(), "a refused answer changes nothing")
		require.NoError(t, d.Compare([]Hash{ta.Node(ta.Levels()-1, 0)}))
		assert.True(t, d.Done())
		assert.True(t, d.Differing().Empty())
		assert.ErrorIs(t, d.Compare(nil), ErrMismatch, "compare after done")
	})
	t.Run("peer of another shape", func(t *testing.T) {
		small, err := NewHashTree(hashTestList(t, Geometry{Size: 999 * PageSize, BlockSize: PageSize}, 1), 0)
		require.NoError(t, err)
		_, err = small.AppendNodes(nil, 0, NewSet(1000))
		assert.ErrorIs(t, err, ErrMismatch)
		_, err = small.AppendNodes(nil, small.Levels(), NewSet(1))
		assert.ErrorIs(t, err, ErrMismatch)
		_, err = small.Expand(0, NewSet(999))
		assert.ErrorIs(t, err, ErrMismatch)
		_, err = small.Expand(1, NewSet(5))
		assert.ErrorIs(t, err, ErrMismatch)
	})
}

func TestDiffLevel(t *testing.T) {
	local := []Hash{{1}, {2}, {3}, {4}}
	want := hashSetOf(4, 1, 3)
	diff, err := DiffLevel(local, want, []Hash{{2}, {9}})
	require.NoError(t, err)
	assert.Equal(t, []int64{3}, hashMembers(diff))

	_, err = DiffLevel(local, hashSetOf(5, 1), []Hash{{2}})
	assert.ErrorIs(t, err, ErrMismatch)
	_, err = DiffLevel(local, want, []Hash{{2}})
	assert.ErrorIs(t, err, ErrMismatch)
}

func TestParseHashes(t *testing.T) {
	hs := []Hash{HashBlock([]byte("a")), HashBlock([]byte("b"))}
	b := AppendHashes([]byte{}, hs)
	require.Len(t, b, 64)
	got, err := ParseHashes(b, 2)
	require.NoError(t, err)
	assert.Equal(t, hs, got)
	empty, err := ParseHashes(nil, 0)
	require.NoError(t, err)
	assert.Empty(t, empty)

	_, err = ParseHashes(b, 1)
	assert.ErrorIs(t, err, ErrLimit)
	_, err = ParseHashes(b[:63], 2)
	var ce *CorruptError
	require.ErrorAs(t, err, &ce)
	assert.Equal(t, int64(32), ce.Offset)
}
