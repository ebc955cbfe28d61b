package delta

import (
	"bytes"
	"context"
	"io"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// randomSource builds volumes with random geometry, content, dirty sets,
// repeated blocks and page masks.
func randomSource(rng *rand.Rand, maxBytes int64) (*memSource, [][]byte) {
	bs := MinBlockSize << rng.IntN(11) // 4 KiB .. 4 MiB
	nv := 1 + rng.IntN(3)
	src := &memSource{masks: map[blockAddr]PageMask{}}
	var olds [][]byte
	for range nv {
		maxBlocks := max(1, maxBytes/int64(bs)/int64(nv))
		blocks := 1 + rng.Int64N(min(maxBlocks, 40))
		size := blocks * int64(bs)
		if rng.IntN(2) == 0 { // a short last block, maybe with a short page
			size -= 1 + rng.Int64N(int64(bs)-1)
		}
		if rng.IntN(10) == 0 {
			size = 0
		}
		g := Geometry{Size: size, BlockSize: bs}
		img := make([]byte, size)
		old := make([]byte, size)
		for b := range g.Blocks() {
			off, n := g.BlockBounds(b)
			randomContent(rng, img[off:off+int64(n)])
			randomContent(rng, old[off:off+int64(n)])
		}
		set := NewSet(g.Blocks())
		for b := range g.Blocks() {
			if rng.IntN(3) > 0 {
				set.Add(b)
			}
		}
		src.geoms = append(src.geoms, g)
		src.vols = append(src.vols, img)
		src.blocks = append(src.blocks, set)
		olds = append(olds, old)
	}
	// Repeated blocks, also across volumes, for copy records.
	for range rng.IntN(6) {
		v1, v2 := rng.IntN(nv), rng.IntN(nv)
		g1, g2 := src.geoms[v1], src.geoms[v2]
		if g1.Blocks() == 0 || g2.Blocks() == 0 {
			continue
		}
		b1, b2 := rng.Int64N(g1.Blocks()), rng.Int64N(g2.Blocks())
		o1, n1 := g1.BlockBounds(b1)
		o2, n2 := g2.BlockBounds(b2)
		if n1 == n2 {
			copy(src.vols[v2][o2:o2+int64(n2)], src.vols[v1][o1:o1+int64(n1)])
		}
	}
	// Page masks on some dirty blocks.
	for v, g := range src.geoms {
		for b := range src.blocks[v].All() {
			if rng.IntN(3) != 0 {
				continue
			}
			pages := g.BlockPages(b)
			m := make(PageMask, (pages+63)/64)
			for p := range pages {
				if rng.IntN(2) == 0 {
					m[p>>6] |= 1 << (p & 63)
				}
			}
			src.masks[blockAddr{v, b}] = m
		}
	}
	return src, olds
}

func TestRoundTripRandom(t *testing.T) {
	seed := int64(*streamSeedFlag)
	if seed == 0 {
		seed = time.Now().UnixNano()
	}
	t.Logf("seed %d (rerun with -delta.streamseed=%d)", seed, seed)
	rng := rand.New(rand.NewPCG(uint64(seed), 7))
	for i := range roundTripRuns {
		src, olds := randomSource(rng, roundTripBytes)
		h := testHeader(src.geoms)
		var opts []EncoderOption
		opts = append(opts, WithConcurrency(1+rng.IntN(4)), WithCompression(rng.IntN(4) != 0), WithDedup(rng.IntN(4) != 0))
		if rng.IntN(2) == 0 {
			opts = append(opts, WithEncoderMemory(encoderSlotBytes(h.BlockSize, true)*int64(1+rng.IntN(5))))
		}
		var last int64
		var total int64
		opts = append(opts, WithProgress(func(done, tot int64) {
			assert.Greater(t, done, last)
			last, total = done, tot
		}))
		checkRoundTrip(t, src, olds, opts...)
		assert.Equal(t, total, last, "run %d: progress ends at the total", i)
	}
}

func TestEncodeStats(t *testing.T) {
	g := Geometry{Size: 10*PageSize*4 + 100, BlockSize: 4 * PageSize}
	img := make([]byte, g.Size)
	for b := range g.Blocks() {
		off, n := g.BlockBounds(b)
		switch b {
		case 0, 1, 2, 5: // zero run of 3, then a lone zero block
		case 3, 7:
			copy(img[off:off+int64(n)], bytes.Repeat([]byte("same block "), n))
		default:
			for i := range n {
				img[off+int64(i)] = byte(b) + byte(i*31)
			}
		}
	}
	set := NewSet(g.Blocks())
	set.AddRange(0, g.Blocks())
	src := &memSource{geoms: []Geometry{g}, vols: [][]byte{img}, blocks: []*Set{set}, masks: map[blockAddr]PageMask{{0, 9}: {0b0101}}}
	_, st := encodeSource(t, testHeader(src.geoms), src, WithConcurrency(3))
	// 0-2 zero run, 3 data, 4 data, 5 zero, 6 data, 7 copy of 3, 8 data,
	// 9 two pages of data, 10 the short last block.
	assert.Equal(t, EncodeStats{
		Records: 9, DataBlocks: 6, PageRecords: 1, ZeroBlocks: 4, CopyBlocks: 1,
		RawBytes:    10*4*PageSize + 100 - 2*PageSize,
		StreamBytes: st.StreamBytes, BufferBytes: st.BufferBytes,
	}, st)
	assert.LessOrEqual(t, st.BufferBytes, int64(DefaultEncoderMemory))
}

func TestEncoderMemoryBound(t *testing.T) {
	const bs = 1 << 20
	g := Geometry{Size: 16 * bs, BlockSize: bs}
	src, err := NewSource([]io.ReaderAt{patternVolume{size: g.Size}}, []Geometry{g}, nil)
	require.NoError(t, err)
	limit := int64(5 * bs)
	_, st := encodeSource(t, testHeader([]Geometry{g}), src, WithEncoderMemory(limit), WithConcurrency(4))
	assert.Equal(t, int64(16), st.DataBlocks)
	assert.LessOrEqual(t, st.BufferBytes, limit)
	assert.Greater(t, st.BufferBytes, int64(0))

	_, err = NewEncoder(&bytes.Buffer{}, testHeader([]Geometry{g}), WithEncoderMemory(bs))
	assert.ErrorIs(t, err, ErrLimit)
}

func TestEncoderRefusals(t *testing.T) {
	g := Geometry{Size: 1 << 20, BlockSize: 64 << 10}
	good := testHeader([]Geometry{g})
	bad := func(f func(h *Header)) Header {
		h := good
		h.Volumes = append([]VolumeInfo(nil), good.Volumes...)
		f(&h)
		return h
	}
	for name, tc := range map[string]struct {
		h    Header
		want error
	}{
		"empty group":     {bad(func(h *Header) { h.Group = "" }), ErrHeader},
		"slash in group":  {bad(func(h *Header) { h.Group = "a/b" }), ErrHeader},
		"zero new":        {bad(func(h *Header) { h.New = PointID{} }), ErrHeader},
		"new is base":     {bad(func(h *Header) { h.New = h.Base }), ErrHeader},
		"no time":         {bad(func(h *Header) { h.Time = time.Time{} }), ErrHeader},
		"consistency":     {bad(func(h *Header) { h.Consistency = 9 }), ErrHeader},
		"no volumes":      {bad(func(h *Header) { h.Volumes = nil }), ErrHeader},
		"volume id slash": {bad(func(h *Header) { h.Volumes[0].ID = "a/b" }), ErrHeader},
		"volume id dot":   {bad(func(h *Header) { h.Volumes[0].ID = ".." }), ErrHeader},
		"block size":      {bad(func(h *Header) { h.BlockSize = 3000 }), ErrGeometry},
		"meta too big":    {bad(func(h *Header) { h.Meta = make([]byte, MaxMeta+1) }), ErrHeader},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := NewEncoder(&bytes.Buffer{}, tc.h)
			assert.ErrorIs(t, err, tc.want)
		})
	}

	// A source that does not fit the header, and a second Encode.
	src, err := NewSource([]io.ReaderAt{patternVolume{size: 2 << 20}}, []Geometry{{Size: 2 << 20, BlockSize: 64 << 10}}, nil)
	require.NoError(t, err)
	e, err := NewEncoder(&bytes.Buffer{}, good)
	require.NoError(t, err)
	_, err = e.Encode(context.Background(), src)
	assert.ErrorIs(t, err, ErrMismatch)
	_, err = e.Encode(context.Background(), src)
	assert.ErrorIs(t, err, ErrClosed)
}

func TestEncodeCancelled(t *testing.T) {
	g := Geometry{Size: 8 << 20, BlockSize: 64 << 10}
	src, err := NewSource([]io.ReaderAt{patternVolume{size: g.Size}}, []Geometry{g}, nil)
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	e, err := NewEncoder(&bytes.Buffer{}, testHeader([]Geometry{g}))
	require.NoError(t, err)
	_, err = e.Encode(ctx, src)
	assert.ErrorIs(t, err, context.Canceled)
}
