package delta

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sync/errgroup"
)

func hashTestList(t testing.TB, g Geometry, seed byte) *HashList {
	t.Helper()
	l, err := NewHashList(g)
	require.NoError(t, err)
	for i := range l.Len() {
		l.Set(i, HashBlock([]byte{seed, byte(i), byte(i >> 8), byte(i >> 16)}))
	}
	return l
}

func TestNewHashListGeometry(t *testing.T) {
	_, err := NewHashList(Geometry{Size: 1 << 20, BlockSize: 3000})
	assert.ErrorIs(t, err, ErrGeometry)
	_, err = NewHashList(Geometry{Size: -1, BlockSize: PageSize})
	assert.ErrorIs(t, err, ErrGeometry)

	l, err := NewHashList(Geometry{Size: 5*65536 + 1, BlockSize: 65536})
	require.NoError(t, err)
	assert.Equal(t, int64(6), l.Len())
	assert.True(t, l.Get(5).IsZero(), "a new list holds zero hashes")
}

func TestHashListRootChangesIffABlockChanges(t *testing.T) {
	rng := hashTestRand(t)
	for round := range hashTestRounds {
		blocks := 1 + rng.Int64N(3000)
		g := Geometry{Size: blocks * PageSize, BlockSize: PageSize}
		l := hashTestList(t, g, byte(round))
		root := l.Root()
		assert.Equal(t, root, l.Clone().Root(), "same hashes, same root")

		i := rng.Int64N(blocks)
		old := l.Get(i)
		l.Set(i, HashBlock([]byte{0xff, byte(round)}))
		changed := l.Root()
		assert.NotEqual(t, root, changed, "round %d: changing block %d of %d changes the root", round, i, blocks)
		l.Set(i, old)
		assert.Equal(t, root, l.Root(), "round %d: restoring block %d restores the root", round, i)

		// Swapping two different hashes changes the root: position matters.
		if blocks > 1 {
			j := (i + 1 + rng.Int64N(blocks-1)) % blocks
			a, b := l.Get(i), l.Get(j)
			l.Set(i, b)
			l.Set(j, a)
			assert.NotEqual(t, root, l.Root(), "round %d: swapping blocks %d and %d", round, i, j)
		}
	}
}

func TestHashListRootBindsGeometry(t *testing.T) {
	// Same number of blocks and the same hashes, different sizes.
	a := hashTestList(t, Geometry{Size: 3 * 65536, BlockSize: 65536}, 1)
	b, err := NewHashList(Geometry{Size: 3*65536 - 1, BlockSize: 65536})
	require.NoError(t, err)
	for i := range a.Len() {
		b.Set(i, a.Get(i))
	}
	assert.NotEqual(t, a.Root(), b.Root())

	// An empty volume has a root too, distinct per geometry.
	e1, err := NewHashList(Geometry{Size: 0, BlockSize: 65536})
	require.NoError(t, err)
	e2, err := NewHashList(Geometry{Size: 0, BlockSize: PageSize})
	require.NoError(t, err)
	assert.NotEqual(t, e1.Root(), e2.Root())
	assert.False(t, e1.Root().IsZero())
}

func TestGroupRoot(t *testing.T) {
	g := Geometry{Size: 10 * PageSize, BlockSize: PageSize}
	a, b := hashTestList(t, g, 1), hashTestList(t, g, 2)
	ab, ba := GroupRoot([]*HashList{a, b}), GroupRoot([]*HashList{b, a})
	assert.NotEqual(t, ab, ba, "volume order matters")
	assert.Equal(t, ab, GroupRoot([]*HashList{a.Clone(), b.Clone()}))
	assert.NotEqual(t, GroupRoot([]*HashList{a}), a.Root(), "a group of one is not its volume")
	assert.False(t, GroupRoot(nil).IsZero(), "the empty group has a root")
	assert.NotEqual(t, GroupRoot(nil), GroupRoot([]*HashList{a}))

	// Moving a block across the volume boundary changes the group root
	// although the concatenated block hashes are the same.
	g9 := Geometry{Size: 9 * PageSize, BlockSize: PageSize}
	g11 := Geometry{Size: 11 * PageSize, BlockSize: PageSize}
	x, y := hashTestList(t, g9, 3), hashTestList(t, g11, 4)
	x2, err := NewHashList(g)
	require.NoError(t, err)
	y2, err := NewHashList(g)
	require.NoError(t, err)
	all := append(append([]Hash{}, x.hashes...), y.hashes...)
	copy(x2.hashes, all[:10])
	copy(y2.hashes, all[10:])
	assert.NotEqual(t, GroupRoot([]*HashList{x, y}), GroupRoot([]*HashList{x2, y2}))
}

func TestHashListDiffEqualClone(t *testing.T) {
	g := Geometry{Size: 200 * PageSize, BlockSize: PageSize}
	a := hashTestList(t, g, 1)
	b := a.Clone()
	assert.True(t, a.Equal(b))
	b.Set(7, Hash{1})
	b.Set(150, Hash{2})
	assert.False(t, a.Equal(b))
	assert.NotEqual(t, a.Get(7), b.Get(7), "a clone is independent")
	d, err := a.Diff(b)
	require.NoError(t, err)
	assert.Equal(t, []int64{7, 150}, hashMembers(d))

	other := hashTestList(t, Geometry{Size: 201 * PageSize, BlockSize: PageSize}, 1)
	_, err = a.Diff(other)
	assert.ErrorIs(t, err, ErrMismatch)
	assert.False(t, a.Equal(other))
}

func TestHashListBinaryRoundTrip(t *testing.T) {
	for _, g := range []Geometry{
		{Size: 0, BlockSize: 65536},
		{Size: 1, BlockSize: PageSize},
		{Size: 100*65536 + 17, BlockSize: 65536},
		{Size: 3 << 22, BlockSize: MaxBlockSize},
	} {
		l := hashTestList(t, g, 9)
		b, err := l.MarshalBinary()
		require.NoError(t, err)
		assert.Len(t, b, hashListHeader+HashSize*int(l.Len())+hashTrailer)
		// Trailing bytes belong to the caller.
		back, n, err := UnmarshalHashList(append(b, 1, 2, 3), l.Len())
		require.NoError(t, err, "%+v", g)
		assert.Equal(t, len(b), n)
		assert.True(t, l.Equal(back), "%+v", g)
		assert.Equal(t, l.Root(), back.Root())

		pre, err := l.AppendBinary([]byte("prefix"))
		require.NoError(t, err)
		assert.Equal(t, b, pre[6:], "AppendBinary appends the same bytes after a prefix")
	}
}

func TestUnmarshalHashListRejects(t *testing.T) {
	l := hashTestList(t, Geometry{Size: 20 * PageSize, BlockSize: PageSize}, 5)
	good, err := l.MarshalBinary()
	require.NoError(t, err)

	t.Run("every truncation", func(t *testing.T) {
		for n := range len(good) {
			_, _, err := UnmarshalHashList(good[:n], 1000)
			var ce *CorruptError
			require.ErrorAs(t, err, &ce, "truncated to %d bytes", n)
			assert.ErrorIs(t, err, ErrCorrupt)
		}
	})
	t.Run("every bit flip", func(t *testing.T) {
		for i := range len(good) * 8 {
			b := append([]byte(nil), good...)
			b[i/8] ^= 1 << (i % 8)
			_, _, err := UnmarshalHashList(b, 1<<40)
			var ce *CorruptError
			require.ErrorAs(t, err, &ce, "bit %d flipped", i)
		}
	})
	t.Run("limit", func(t *testing.T) {
		_, _, err := UnmarshalHashList(good, 19)
		assert.ErrorIs(t, err, ErrLimit)
		assert.False(t, errors.Is(err, ErrCorrupt))
		_, _, err = UnmarshalHashList(good, 20)
		assert.NoError(t, err)
	})
	t.Run("huge count in a short input", func(t *testing.T) {
		// A valid header claiming 2^38 blocks must not allocate them.
		big := &HashList{g: Geometry{Size: MaxVolumeSize, BlockSize: PageSize}}
		b, err := big.AppendBinary(nil)
		require.NoError(t, err)
		b[17], b[18], b[19], b[20], b[21] = 0, 0, 0, 0, 0x40 // count = 2^38
		_, _, err = UnmarshalHashList(b, 1<<40)
		var ce *CorruptError
		require.ErrorAs(t, err, &ce)
		assert.Contains(t, ce.Reason, "truncated")
	})
}

func TestHashListRootIncremental(t *testing.T) {
	rng := hashTestRand(t)
	ctx := context.Background()
	for round := range hashTestRounds {
		blocks := 1 + rng.Int64N(2000)
		g := Geometry{Size: blocks*PageSize - rng.Int64N(PageSize), BlockSize: PageSize}
		l := hashTestList(t, g, byte(round))
		_ = l.Root() // builds the cache
		for step := range 6 {
			for range rng.IntN(40) {
				l.Set(rng.Int64N(blocks), HashBlock([]byte{byte(step), byte(rng.Uint32())}))
			}
			if step == 3 {
				// UpdateHashes writes hashes behind Set's back.
				data := hashTestVolume(rng, g.Size)
				set := NewSet(blocks)
				for range 1 + rng.IntN(20) {
					set.Add(rng.Int64N(blocks))
				}
				require.NoError(t, UpdateHashes(ctx, l, newHashMemVolume(data), set))
			}
			require.Equal(t, l.Clone().Root(), l.Root(), "round %d step %d: cached root equals a fresh one", round, step)
			tr, err := NewHashTree(l, DefaultFanout)
			require.NoError(t, err)
			require.Equal(t, tr.Root(), l.Root())
		}
	}
}

func TestHashListRootConcurrent(t *testing.T) {
	l := hashTestList(t, Geometry{Size: 3000 * PageSize, BlockSize: PageSize}, 1)
	want := l.Clone().Root()
	_ = l.Root()
	l.Set(5, Hash{5})
	l.Set(2999, Hash{6})
	want2 := l.Clone().Root()
	assert.NotEqual(t, want, want2)
	var eg errgroup.Group
	for range 4 {
		eg.Go(func() error {
			if got := l.Root(); got != want2 {
				return fmt.Errorf("root %v, want %v", got, want2)
			}
			return nil
		})
	}
	assert.NoError(t, eg.Wait())
}
