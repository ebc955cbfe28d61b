package delta

import (
	"encoding/binary"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/zeebo/blake3"
)

// treeRefNode hashes a node as the HashTree documentation defines it.
func treeRefNode(level int, index int64, children []Hash) Hash {
	h := blake3.NewDeriveKey("blockrep 2026-11-25 hash tree node v1")
	buf := []byte{byte(level)}
	buf = binary.LittleEndian.AppendUint64(buf, uint64(index))
	for _, c := range children {
		buf = append(buf, c[:]...)
	}
	_, _ = h.Write(buf)
	var out Hash
	h.Sum(out[:0])
	return out
}

func TestHashTreeShape(t *testing.T) {
	for _, c := range []struct {
		blocks int64
		fanout int
		widths []int64
	}{
		{0, 16, []int64{0}},
		{1, 16, []int64{1}},
		{2, 16, []int64{2, 1}},
		{16, 16, []int64{16, 1}},
		{17, 16, []int64{17, 2, 1}},
		{256, 16, []int64{256, 16, 1}},
		{257, 16, []int64{257, 17, 2, 1}},
		{5, 2, []int64{5, 3, 2, 1}},
		{1000, 1024, []int64{1000, 1}},
	} {
		l := hashTestList(t, Geometry{Size: c.blocks * PageSize, BlockSize: PageSize}, 1)
		tr, err := NewHashTree(l, c.fanout)
		require.NoError(t, err)
		require.Equal(t, len(c.widths), tr.Levels(), "%d blocks, fan-out %d", c.blocks, c.fanout)
		for k, w := range c.widths {
			assert.Equal(t, w, tr.Width(k))
			assert.Len(t, tr.Level(k), int(w))
		}
		assert.Equal(t, int64(0), tr.Width(tr.Levels()))
		assert.Equal(t, c.fanout, tr.Fanout())

		// Every node is the reference hash of its children.
		for k := 1; k < tr.Levels(); k++ {
			var total int
			for i := range tr.Width(k) {
				first, count := tr.Children(k, i)
				assert.Equal(t, i*int64(c.fanout), first)
				total += count
				assert.Equal(t, treeRefNode(k, i, tr.Level(k - 1)[first:first+int64(count)]), tr.Node(k, i), "node %d/%d", k, i)
			}
			assert.Equal(t, tr.Width(k-1), int64(total), "the children of level %d cover level %d", k, k-1)
		}
		first, count := tr.Children(0, 0)
		assert.Equal(t, [2]int64{0, 0}, [2]int64{first, int64(count)}, "level 0 has no children")
		first, count = tr.Children(1, tr.Width(1))
		assert.Equal(t, [2]int64{0, 0}, [2]int64{first, int64(count)}, "a node past the level has no children")
	}
}

func TestHashTreeRoot(t *testing.T) {
	g := Geometry{Size: 300 * 65536, BlockSize: 65536}
	l := hashTestList(t, g, 7)
	tr, err := NewHashTree(l, 0)
	require.NoError(t, err)
	assert.Equal(t, DefaultFanout, tr.Fanout())
	assert.Equal(t, l.Root(), tr.Root(), "the default tree's root is the list's root")
	assert.Equal(t, g, tr.Geometry())

	t2, err := NewHashTree(l, 4)
	require.NoError(t, err)
	assert.NotEqual(t, tr.Root(), t2.Root(), "the fan-out is part of the root")

	// The tree keeps its own copy.
	l.Set(0, Hash{})
	assert.NotEqual(t, l.Root(), tr.Root())
	assert.NotEqual(t, Hash{}, tr.Node(0, 0))

	for _, f := range []int{1, -1, MaxFanout + 1} {
		_, err := NewHashTree(l, f)
		assert.ErrorIs(t, err, ErrHashOption, "fan-out %d", f)
	}
}

func TestHashTreeRootGolden(t *testing.T) {
	// Roots are stored (a point's content hash) and compared across
	// hosts, so their definition must not drift.
	l := hashTestList(t, Geometry{Size: 40*PageSize + 1, BlockSize: PageSize}, 3)
	assert.Equal(t, "e20868dd7745c61382e0cbb231faac708b29ad595010f22b6701c93c3a376790", l.Root().String())
	empty, err := NewHashList(Geometry{Size: 0, BlockSize: 65536})
	require.NoError(t, err)
	assert.Equal(t, "ac5dc091ed4b9da4e81354c190a904c33a5bca5f1f6cf2c0876f3db1a2a9ce82", empty.Root().String())
	assert.Equal(t, "dbd45a165fa6b35e5b5d80d4c8e7f5b1a8174eee6e007fd8fd28edc2ce7290ab", GroupRoot([]*HashList{l, empty}).String())
}
