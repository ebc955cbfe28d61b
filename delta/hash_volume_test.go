package delta

import (
	"context"
	"io"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestHashVolumeMatchesHashBlock(t *testing.T) {
	rng := hashTestRand(t)
	cases := []struct {
		size  int64
		bs    int
		opts  []HashOption
		label string
	}{
		{0, 65536, nil, "empty"},
		{1, PageSize, nil, "one byte"},
		{PageSize - 1, PageSize, nil, "short page"},
		{5*65536 + 123, 65536, nil, "short last block"},
		{3 << 20, 65536, []HashOption{WithHashWorkers(1)}, "one worker"},
		{3<<20 + 5, 65536, []HashOption{WithHashWorkers(7), WithHashChunk(MinHashChunk)}, "many workers, small chunks"},
		{9<<20 + 4096, MaxBlockSize, []HashOption{WithHashChunk(MinHashChunk)}, "blocks larger than a chunk"},
		{2<<20 + 100, PageSize, []HashOption{WithHashChunk(3 * MinHashChunk)}, "page blocks"},
	}
	for _, c := range cases {
		t.Run(c.label, func(t *testing.T) {
			data := hashTestVolume(rng, c.size)
			g, err := NewGeometry(c.size, c.bs)
			require.NoError(t, err)
			list, err := HashVolume(context.Background(), newHashMemVolume(data), g, c.opts...)
			require.NoError(t, err)
			require.Equal(t, g.Blocks(), list.Len())
			assert.Equal(t, g, list.Geometry())
			for i := range g.Blocks() {
				off, n := g.BlockBounds(i)
				require.Equal(t, HashBlock(data[off:off+int64(n)]), list.Get(i), "block %d", i)
			}
		})
	}
}

func TestHashVolumeErrors(t *testing.T) {
	rng := hashTestRand(t)
	data := hashTestVolume(rng, 4<<20)
	g, err := NewGeometry(int64(len(data)), 65536)
	require.NoError(t, err)
	ctx := context.Background()

	t.Run("short volume", func(t *testing.T) {
		_, err := HashVolume(ctx, newHashMemVolume(data[:len(data)-1]), g)
		assert.ErrorIs(t, err, ErrMismatch)
		assert.ErrorIs(t, err, io.ErrUnexpectedEOF)
	})
	t.Run("read error", func(t *testing.T) {
		v := newHashMemVolume(data)
		v.failAt = 3<<20 + 17
		_, err := HashVolume(ctx, v, g)
		assert.ErrorIs(t, err, errHashTestRead)
	})
	t.Run("cancelled", func(t *testing.T) {
		cctx, cancel := context.WithCancel(ctx)
		cancel()
		_, err := HashVolume(cctx, newHashMemVolume(data), g)
		assert.ErrorIs(t, err, context.Canceled)
	})
	t.Run("bad geometry", func(t *testing.T) {
		_, err := HashVolume(ctx, newHashMemVolume(data), Geometry{Size: 10, BlockSize: 1000})
		assert.ErrorIs(t, err, ErrGeometry)
	})
	t.Run("bad options", func(t *testing.T) {
		for _, o := range []HashOption{WithHashWorkers(0), WithHashWorkers(MaxHashWorkers + 1),
			WithHashChunk(0), WithHashChunk(MinHashChunk + PageSize), WithHashChunk(MaxHashChunk + MinHashChunk)} {
			_, err := HashVolume(ctx, newHashMemVolume(data), g, o)
			assert.ErrorIs(t, err, ErrHashOption)
			_, err = Scan(ctx, newHashMemVolume(data), g, nil, o)
			assert.ErrorIs(t, err, ErrHashOption)
		}
	})
}

func TestUpdateHashes(t *testing.T) {
	rng := hashTestRand(t)
	ctx := context.Background()
	for round := range hashTestRounds {
		size := 1 + rng.Int64N(2<<20)
		bs := PageSize << rng.IntN(6)
		data := hashTestVolume(rng, size)
		g, err := NewGeometry(size, bs)
		require.NoError(t, err)
		list, err := HashVolume(ctx, newHashMemVolume(data), g)
		require.NoError(t, err)

		// Rewrite random blocks, then rehash just those.
		changed := NewSet(g.Blocks())
		for range 1 + rng.IntN(10) {
			b := rng.Int64N(g.Blocks())
			changed.Add(b)
			off, n := g.BlockBounds(b)
			hashFillRandom(rng, data[off:off+int64(n)])
		}
		vol := newHashMemVolume(data)
		require.NoError(t, UpdateHashes(ctx, list, vol, changed, WithHashChunk(MinHashChunk)))

		want, err := HashVolume(ctx, newHashMemVolume(data), g)
		require.NoError(t, err)
		require.True(t, want.Equal(list), "round %d: updated list equals a fresh one", round)

		// Only the pages of the given blocks were read.
		wantPages := map[int64]bool{}
		for b := range changed.All() {
			off, n := g.BlockBounds(b)
			for p := off / PageSize; p*PageSize < off+int64(n); p++ {
				wantPages[p] = true
			}
		}
		assert.Equal(t, wantPages, vol.readPages(), "round %d", round)
	}
}

func TestUpdateHashesErrors(t *testing.T) {
	g := Geometry{Size: 1 << 20, BlockSize: 65536}
	list, err := NewHashList(g)
	require.NoError(t, err)
	data := make([]byte, g.Size)
	err = UpdateHashes(context.Background(), list, newHashMemVolume(data), NewSet(15))
	assert.ErrorIs(t, err, ErrMismatch)

	err = UpdateHashes(context.Background(), list, newHashMemVolume(data[:100]), hashSetOf(16, 3))
	assert.ErrorIs(t, err, io.ErrUnexpectedEOF)
	assert.True(t, list.Get(3).IsZero(), "a failed read sets no hash")

	require.NoError(t, UpdateHashes(context.Background(), list, newHashMemVolume(data), NewSet(16)))
	assert.True(t, list.Get(0).IsZero(), "an empty set rehashes nothing")
}

func TestHashProgress(t *testing.T) {
	rng := hashTestRand(t)
	g, err := NewGeometry(5<<20+4000, 65536)
	require.NoError(t, err)
	data := hashTestVolume(rng, g.Size)
	ctx := context.Background()

	type call struct{ done, total int64 }
	record := func(calls *[]call) HashOption {
		return WithHashProgress(func(done, total int64) { *calls = append(*calls, call{done, total}) })
	}
	check := func(t *testing.T, calls []call, total int64, n int) {
		t.Helper()
		require.Len(t, calls, n)
		var last int64
		for _, c := range calls {
			assert.Greater(t, c.done, last)
			assert.Equal(t, total, c.total)
			last = c.done
		}
		assert.Equal(t, total, last, "the last call reports everything done")
	}

	var calls []call
	list, err := HashVolume(ctx, newHashMemVolume(data), g, record(&calls), WithHashWorkers(3))
	require.NoError(t, err)
	check(t, calls, g.Size, 6) // five 1 MiB chunks and a short one

	calls = nil
	_, err = Scan(ctx, newHashMemVolume(data), g, nil, record(&calls), WithHashChunk(MinHashChunk))
	require.NoError(t, err)
	check(t, calls, g.Size, 21)

	calls = nil
	last := g.Blocks() - 1
	_, lastLen := g.BlockBounds(last)
	require.NoError(t, UpdateHashes(ctx, list, newHashMemVolume(data), hashSetOf(g.Blocks(), 0, 1, 40, last), record(&calls)))
	check(t, calls, 3*65536+int64(lastLen), 3) // runs {0,1}, {40}, {last}

	_, err = HashVolume(ctx, newHashMemVolume(data), g, WithHashProgress(nil))
	assert.NoError(t, err)
}
