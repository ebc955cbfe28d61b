package delta

import (
	"context"
	"io"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// scanTruth returns the pages and blocks where old and cur differ, by
// comparing bytes.
func scanTruth(g Geometry, old, cur []byte) (pages, blocks *Set) {
	pages = NewSet(hashPageCount(g))
	blocks = NewSet(g.Blocks())
	for p := range pages.Len() {
		lo, hi := p*PageSize, min((p+1)*PageSize, g.Size)
		if string(old[lo:hi]) != string(cur[lo:hi]) {
			pages.Add(p)
			blocks.Add(lo / int64(g.BlockSize))
		}
	}
	return pages, blocks
}

func scanOrFail(t *testing.T, data []byte, g Geometry, prev *PageHashes, opts ...HashOption) *ScanResult {
	t.Helper()
	res, err := Scan(context.Background(), newHashMemVolume(data), g, prev, opts...)
	require.NoError(t, err)
	require.Equal(t, g, res.Geometry)
	require.Equal(t, g, res.Hashes.Geometry())
	require.Equal(t, hashPageCount(g), res.Hashes.Len())
	return res
}

func TestScanScriptedEdits(t *testing.T) {
	rng := hashTestRand(t)
	const bs = 65536
	cases := []struct {
		name   string
		size   int64
		edit   func(b []byte)
		pages  []int64
		blocks []int64
		masks  map[int64]PageMask // expected Pages for some blocks; nil = whole block
	}{
		{"nothing changed", 10 * bs, func([]byte) {}, nil, nil, nil},
		{"one byte", 10 * bs, func(b []byte) { b[3*bs+5*PageSize+100]++ },
			[]int64{3*16 + 5}, []int64{3}, map[int64]PageMask{3: {1 << 5}, 4: {0}}},
		{"last byte of a page", 10 * bs, func(b []byte) { b[2*PageSize-1] ^= 0xff },
			[]int64{1}, []int64{0}, map[int64]PageMask{0: {1 << 1}}},
		{"two pages in a block", 10 * bs, func(b []byte) { b[9*bs]++; b[10*bs-1]++ },
			[]int64{9 * 16, 9*16 + 15}, []int64{9}, map[int64]PageMask{9: {1 | 1<<15}}},
		{"a write across a page boundary", 10 * bs, func(b []byte) { copy(b[bs+PageSize-2:], "four") },
			[]int64{16, 17}, []int64{1}, nil},
		{"whole block", 10 * bs, func(b []byte) {
			for i := 6 * bs; i < 7*bs; i++ {
				b[i] = ^b[i]
			}
		}, scanRange(6*16, 16), []int64{6}, map[int64]PageMask{6: nil}},
		{"short last page", 2*bs + 3*PageSize + 100, func(b []byte) { b[len(b)-1]++ },
			[]int64{2*16 + 3}, []int64{2}, map[int64]PageMask{2: {1 << 3}}},
		{"short last block, one of its pages", 2*bs + 3*PageSize + 100, func(b []byte) { b[2*bs+PageSize]++ },
			[]int64{2*16 + 1}, []int64{2}, map[int64]PageMask{2: {1 << 1}}},
		{"page zeroed", 4 * bs, func(b []byte) { clear(b[bs : bs+PageSize]) },
			nil, nil, nil}, // filled in below when the page held data
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			old := hashTestVolume(rng, c.size)
			if c.name == "page zeroed" {
				old[bs] = 1 // make sure the page held data
				c.pages, c.blocks = []int64{16}, []int64{1}
			}
			g, err := NewGeometry(c.size, bs)
			require.NoError(t, err)
			first := scanOrFail(t, old, g, nil)
			cur := append([]byte(nil), old...)
			c.edit(cur)
			res := scanOrFail(t, cur, g, first.Hashes)
			assert.Equal(t, nonNil(c.pages), hashMembers(res.ChangedPages))
			assert.Equal(t, nonNil(c.blocks), hashMembers(res.Blocks))
			for b, want := range c.masks {
				assert.Equal(t, want, res.Pages(b, nil), "pages of block %d", b)
			}
			again := scanOrFail(t, cur, g, nil)
			assert.True(t, again.Hashes.Equal(res.Hashes), "the new hashes do not depend on prev")
		})
	}
}

func scanRange(start, n int64) []int64 {
	out := make([]int64, n)
	for i := range out {
		out[i] = start + int64(i)
	}
	return out
}

func nonNil(s []int64) []int64 {
	if s == nil {
		return []int64{}
	}
	return s
}

func TestScanFirstCycleReportsEverything(t *testing.T) {
	rng := hashTestRand(t)
	for _, size := range []int64{0, 1, PageSize, 3*65536 + 5} {
		g, err := NewGeometry(size, 65536)
		require.NoError(t, err)
		res := scanOrFail(t, hashTestVolume(rng, size), g, nil)
		assert.Equal(t, hashPageCount(g), res.ChangedPages.Count(), "size %d", size)
		assert.Equal(t, g.Blocks(), res.Blocks.Count(), "size %d", size)
		for b := range res.Blocks.All() {
			assert.Nil(t, res.Pages(b, nil), "block %d is sent whole", b)
		}
	}
}

func TestScanPagesLargeBlocks(t *testing.T) {
	// 4 MiB blocks have 1024 pages: masks of 16 words.
	rng := hashTestRand(t)
	g, err := NewGeometry(2*MaxBlockSize+3*PageSize, MaxBlockSize)
	require.NoError(t, err)
	old := hashTestVolume(rng, g.Size)
	first := scanOrFail(t, old, g, nil)
	cur := append([]byte(nil), old...)
	touched := []int64{1024 + 70, 1024 + 1023, 2048 + 2}
	for _, p := range touched {
		cur[p*PageSize+17]++
	}
	res := scanOrFail(t, cur, g, first.Hashes, WithHashChunk(MinHashChunk))
	assert.Equal(t, touched, hashMembers(res.ChangedPages))
	assert.Equal(t, []int64{1, 2}, hashMembers(res.Blocks))

	dst := make(PageMask, 0, 16)
	m := res.Pages(1, dst)
	require.Len(t, m, 16)
	assert.Equal(t, []int{70, 1023}, collectPages(m, 1024))
	m = res.Pages(2, m)
	assert.Equal(t, PageMask{1 << 2}, m, "short last block of three pages")
	m = res.Pages(0, m)
	assert.Equal(t, 0, m.Count(1024), "a block outside Blocks has an empty mask")
	assert.NotNil(t, m)
	for _, b := range []int64{-1, 3, 1 << 40} {
		m := res.Pages(b, nil)
		assert.NotNil(t, m, "block %d out of range", b)
		assert.Equal(t, 0, m.Count(1024), "block %d out of range", b)
	}
}

func collectPages(m PageMask, pages int) []int {
	var out []int
	for p := range m.All(pages) {
		out = append(out, p)
	}
	return out
}

func TestScanRandomized(t *testing.T) {
	rng := hashTestRand(t)
	for round := range hashTestRounds {
		size := rng.Int64N(3 << 20)
		bs := PageSize << rng.IntN(11)
		g, err := NewGeometry(size, bs)
		require.NoError(t, err)
		opts := []HashOption{WithHashWorkers(1 + rng.IntN(4)), WithHashChunk(MinHashChunk * (1 + rng.IntN(5)))}
		old := hashTestVolume(rng, size)
		prev := scanOrFail(t, old, g, nil, opts...).Hashes
		for cycle := range 3 {
			cur := append([]byte(nil), old...)
			for range rng.IntN(12) {
				if size == 0 {
					break
				}
				off := rng.Int64N(size)
				n := min(1+rng.Int64N(3*PageSize), size-off)
				hashFillRandom(rng, cur[off:off+n])
			}
			res := scanOrFail(t, cur, g, prev, opts...)
			pages, blocks := scanTruth(g, old, cur)
			require.Equal(t, hashMembers(pages), hashMembers(res.ChangedPages), "round %d cycle %d: size %d, block %d", round, cycle, size, bs)
			require.Equal(t, hashMembers(blocks), hashMembers(res.Blocks), "round %d cycle %d", round, cycle)
			for b := range res.Blocks.All() {
				m := res.Pages(b, nil)
				first := b * int64(g.PagesPerBlock())
				for p := range g.BlockPages(b) {
					require.Equal(t, pages.Contains(first+int64(p)), m.Has(p), "round %d block %d page %d", round, b, p)
				}
				if m != nil {
					assert.False(t, m.Full(g.BlockPages(b)), "a full mask is reported as nil")
				}
			}
			old, prev = cur, res.Hashes
		}
	}
}

func TestScanErrors(t *testing.T) {
	rng := hashTestRand(t)
	g, err := NewGeometry(1<<20, 65536)
	require.NoError(t, err)
	data := hashTestVolume(rng, g.Size)
	prev := scanOrFail(t, data, g, nil).Hashes
	ctx := context.Background()

	for _, other := range []Geometry{{Size: 1<<20 + 1, BlockSize: 65536}, {Size: 1 << 20, BlockSize: PageSize}} {
		_, err := Scan(ctx, newHashMemVolume(data), other, prev)
		assert.ErrorIs(t, err, ErrMismatch, "prev of geometry %+v", other)
	}
	_, err = Scan(ctx, newHashMemVolume(data[:len(data)-PageSize]), g, prev)
	assert.ErrorIs(t, err, ErrMismatch)
	assert.ErrorIs(t, err, io.ErrUnexpectedEOF)

	v := newHashMemVolume(data)
	v.failAt = 5
	_, err = Scan(ctx, v, g, prev)
	assert.ErrorIs(t, err, errHashTestRead)

	cctx, cancel := context.WithCancel(ctx)
	cancel()
	_, err = Scan(cctx, newHashMemVolume(data), g, prev)
	assert.ErrorIs(t, err, context.Canceled)

	_, err = Scan(ctx, newHashMemVolume(data), Geometry{Size: 1 << 20, BlockSize: 5}, nil)
	assert.ErrorIs(t, err, ErrGeometry)
}

func TestPageHashesBinary(t *testing.T) {
	rng := hashTestRand(t)
	g, err := NewGeometry(5*65536+777, 65536)
	require.NoError(t, err)
	h := scanOrFail(t, hashTestVolume(rng, g.Size), g, nil).Hashes
	b, err := h.MarshalBinary()
	require.NoError(t, err)
	require.Len(t, b, pageHashesHeader+PageHashSize*int(h.Len())+hashTrailer)

	back, n, err := UnmarshalPageHashes(append(b, 0xee), h.Len())
	require.NoError(t, err)
	assert.Equal(t, len(b), n)
	assert.True(t, h.Equal(back))
	assert.Equal(t, h.Get(h.Len()-1), back.Get(back.Len()-1))

	_, _, err = UnmarshalPageHashes(b, h.Len()-1)
	assert.ErrorIs(t, err, ErrLimit)

	for n := range len(b) {
		_, _, err := UnmarshalPageHashes(b[:n], 1<<20)
		var ce *CorruptError
		require.ErrorAs(t, err, &ce, "truncated to %d", n)
	}
	for i := range len(b) * 8 {
		c := append([]byte(nil), b...)
		c[i/8] ^= 1 << (i % 8)
		_, _, err := UnmarshalPageHashes(c, 1<<40)
		var ce *CorruptError
		require.ErrorAs(t, err, &ce, "bit %d flipped", i)
	}
	// A hash list is not page hashes.
	l := hashTestList(t, g, 1)
	lb, err := l.MarshalBinary()
	require.NoError(t, err)
	_, _, err = UnmarshalPageHashes(lb, 1<<20)
	assert.ErrorIs(t, err, ErrCorrupt)
	_, _, err = UnmarshalHashList(b, 1<<20)
	assert.ErrorIs(t, err, ErrCorrupt)
}
