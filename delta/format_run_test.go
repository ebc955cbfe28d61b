package delta

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"io"
	"math/rand/v2"
	"runtime"
	"slices"
	"testing"
	"time"

	"github.com/klauspost/compress/zstd"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// checkRunRoundTrip encodes src with opts, checks that the decoder hands
// out one record per dirty block (or a zero run), each once and in order,
// with the source's bytes, and that Apply onto olds gives the new pages
// over the old images. It returns the stream and the encoder's stats.
func checkRunRoundTrip(t testing.TB, src *memSource, olds [][]byte, opts ...EncoderOption) ([]byte, EncodeStats) {
	t.Helper()
	h := testHeader(src.geoms)
	stream, st := encodeSource(t, h, src, opts...)
	_, recs := readRecords(t, stream)
	covered := make([]*Set, len(src.geoms))
	for v, g := range src.geoms {
		covered[v] = NewSet(g.Blocks())
	}
	for _, r := range recs {
		g := src.geoms[r.Volume]
		require.True(t, r.Count == 1 || r.Kind == RecordZero && r.Pages == nil, "record %+v", r)
		for b := r.Block; b < r.Block+r.Count; b++ {
			require.False(t, covered[r.Volume].Contains(b), "volume %d block %d twice", r.Volume, b)
			covered[r.Volume].Add(b)
		}
		off, blen := g.BlockBounds(r.Block)
		_, exp := expectedPages(src, r)
		switch r.Kind {
		case RecordData:
			require.True(t, bytes.Equal(exp, r.Data), "data of volume %d block %d", r.Volume, r.Block)
		case RecordZero:
			last, lastLen := g.BlockBounds(r.Block + r.Count - 1)
			if r.Pages == nil {
				require.True(t, isZero(src.vols[r.Volume][off:last+int64(lastLen)]))
			} else {
				require.True(t, isZero(exp))
			}
		case RecordCopy:
			fo, fn := src.geoms[r.FromVolume].BlockBounds(r.FromBlock)
			require.Equal(t, blen, fn)
			require.True(t, bytes.Equal(src.vols[r.FromVolume][fo:fo+int64(fn)], src.vols[r.Volume][off:off+int64(blen)]))
		}
	}
	for v := range src.geoms {
		require.True(t, covered[v].Equal(src.blocks[v]), "volume %d covered blocks", v)
	}
	mv, targets := newTargets(olds)
	_, err := Apply(context.Background(), bytes.NewReader(stream), targets)
	require.NoError(t, err)
	for v := range src.geoms {
		require.True(t, bytes.Equal(expectedImage(src, v, olds[v]), mv[v].data), "volume %d after apply", v)
	}
	return stream, st
}

// mixedSource is one volume of nblocks blocks of bs bytes, all dirty:
// zero, text-like and random blocks as kinds says ('0', 't', 'r'), and
// the same text cut at different offsets, so that neighbouring blocks
// share strings that a frame per block cannot see.
func mixedSource(rng *rand.Rand, bs int, kinds string) *memSource {
	text := make([]byte, 4*bs)
	words := make([][]byte, 500)
	for i := range words {
		w := make([]byte, 2+rng.IntN(9), 12)
		for j := range w {
			w[j] = 'a' + byte(rng.IntN(26))
		}
		words[i] = append(w, ' ')
	}
	for i := 0; i < len(text); {
		i += copy(text[i:], words[rng.IntN(len(words))])
	}
	g := Geometry{Size: int64(len(kinds) * bs), BlockSize: bs}
	img := make([]byte, g.Size)
	for b, k := range []byte(kinds) {
		p := img[b*bs : (b+1)*bs]
		switch k {
		case 't':
			copy(p, text[rng.IntN(3*bs):])
		case 'r':
			fillRandom(rng, p)
		}
	}
	set := NewSet(g.Blocks())
	set.AddRange(0, g.Blocks())
	return &memSource{geoms: []Geometry{g}, vols: [][]byte{img}, blocks: []*Set{set}, masks: map[blockAddr]PageMask{}}
}

func runSeed(t *testing.T) *rand.Rand {
	seed := int64(*streamSeedFlag)
	if seed == 0 {
		seed = time.Now().UnixNano()
	}
	t.Logf("seed %d (rerun with -delta.streamseed=%d)", seed, seed)
	return rand.New(rand.NewPCG(uint64(seed), 0x52554e))
}

func TestRunRecordsOfMixedContent(t *testing.T) {
	rng := runSeed(t)
	const bs = 2 * PageSize
	// Zero blocks before, inside and after the non-zero span; random ones
	// that compress only as part of the run.
	src := mixedSource(rng, bs, "00tt0trrt00")
	olds := [][]byte{bytes.Repeat([]byte{0xA5}, int(src.geoms[0].Size))}
	stream, st := checkRunRoundTrip(t, src, olds, WithRunBytes(MaxRunBytes), WithConcurrency(2))
	assert.Equal(t, uint16(FormatVersion), binary.BigEndian.Uint16(stream[8:]))
	// One zero run (blocks 0-1), one data run over blocks 2..8, one zero
	// run (9-10).
	assert.Equal(t, EncodeStats{Records: 3, DataBlocks: 1, ZeroBlocks: 4, RunBlocks: 7,
		RawBytes: 11 * bs, StreamBytes: st.StreamBytes, BufferBytes: st.BufferBytes}, st)
	_, recs := readRecords(t, stream)
	kinds := ""
	for _, r := range recs {
		for range r.Count {
			kinds += map[RecordKind]string{RecordData: "d", RecordZero: "0"}[r.Kind]
		}
	}
	// The zero block inside the run comes out as a zero record.
	assert.Equal(t, "00dd0dddd00", kinds)
}

func TestRunBytesAreTheSameAtEveryConcurrency(t *testing.T) {
	rng := runSeed(t)
	src := mixedSource(rng, MinBlockSize, "tt0trtttrr0t0ttttt00tt0rrtt")
	var first []byte
	for c := 1; c <= 4; c++ {
		// Runs of 4 blocks, so that the volume takes several slots.
		stream, _ := encodeSource(t, testHeader(src.geoms), src, WithRunBytes(4*MinBlockSize), WithConcurrency(c))
		if first == nil {
			first = stream
			continue
		}
		require.True(t, bytes.Equal(first, stream), "concurrency %d", c)
	}
}

func TestRunsCompressBetterThanFramesPerBlock(t *testing.T) {
	rng := runSeed(t)
	src := mixedSource(rng, 16*PageSize, "tttttttttttttttt")
	h := testHeader(src.geoms)
	per, _ := encodeSource(t, h, src)
	run, st := encodeSource(t, h, src, WithRunBytes(MaxRunBytes))
	assert.Equal(t, int64(16), st.RunBlocks)
	assert.Less(t, len(run), len(per)*3/4, "runs %d bytes, a frame per block %d", len(run), len(per))
	assert.Equal(t, uint16(FormatVersion1), binary.BigEndian.Uint16(per[8:]))
}

func TestRunOfIncompressibleBlocksFallsBackToBlocks(t *testing.T) {
	rng := runSeed(t)
	src := mixedSource(rng, MinBlockSize, "rr0rr")
	olds := [][]byte{make([]byte, src.geoms[0].Size)}
	_, st := checkRunRoundTrip(t, src, olds, WithRunBytes(MaxRunBytes))
	assert.Equal(t, EncodeStats{Records: 5, DataBlocks: 4, ZeroBlocks: 1,
		RawBytes: 5 * MinBlockSize, StreamBytes: st.StreamBytes, BufferBytes: st.BufferBytes}, st)

	// Runs of two blocks: block 3 repeats block 0, which the run of
	// blocks 2-3 cannot see, so that slot too goes block by block, and
	// dedup finds block 0 among the blocks sent alone.
	src = mixedSource(rng, MinBlockSize, "rrrr")
	copy(src.vols[0][3*MinBlockSize:], src.vols[0][:MinBlockSize])
	olds = [][]byte{make([]byte, src.geoms[0].Size)}
	_, st = checkRunRoundTrip(t, src, olds, WithRunBytes(2*MinBlockSize))
	assert.Equal(t, EncodeStats{Records: 4, DataBlocks: 3, CopyBlocks: 1,
		RawBytes: 4 * MinBlockSize, StreamBytes: st.StreamBytes, BufferBytes: st.BufferBytes}, st)
}

func TestRunsAreOffWithoutCompression(t *testing.T) {
	rng := runSeed(t)
	src := mixedSource(rng, MinBlockSize, "ttttt")
	olds := [][]byte{make([]byte, src.geoms[0].Size)}
	stream, st := checkRunRoundTrip(t, src, olds, WithRunBytes(MaxRunBytes), WithCompression(false))
	assert.Zero(t, st.RunBlocks)
	assert.Equal(t, uint16(FormatVersion1), binary.BigEndian.Uint16(stream[8:]))
}

func TestRunRoundTripRandom(t *testing.T) {
	rng := runSeed(t)
	for range roundTripRuns / 2 {
		src, olds := randomSource(rng, roundTripBytes)
		h := testHeader(src.geoms)
		opts := []EncoderOption{WithRunBytes(MinBlockSize << rng.IntN(12)), WithConcurrency(1 + rng.IntN(4)), WithDedup(rng.IntN(2) == 0)}
		if rng.IntN(2) == 0 {
			opts = append(opts, WithEncoderMemory(encoderSlotBytes(h.BlockSize, true)*int64(1+rng.IntN(40))))
		}
		checkRunRoundTrip(t, src, olds, opts...)
	}
}

func TestWithRunBytesRefusesBadBounds(t *testing.T) {
	for _, n := range []int{-1, MaxRunBytes + 1} {
		_, err := NewEncoder(io.Discard, testHeader([]Geometry{{Size: 4096, BlockSize: 4096}}), WithRunBytes(n))
		assert.Error(t, err, "%d", n)
	}
}

// runStream returns a version 2 stream of volume 0 (8 blocks of 4 KiB)
// with one record built by hand.
func runStream(kind, flags uint8, block, count uint64, payload []byte) []byte {
	g := Geometry{Size: 8 * MinBlockSize, BlockSize: MinBlockSize}
	h := testHeader([]Geometry{g})
	s := &rawStream{}
	s.buf.Write(appendHeaderVersion(nil, &h, FormatVersion))
	return s.record(kind, flags, 0, block, count, payload).bytes()
}

func zstdFrame(p []byte) []byte {
	e := getZstdEncoder(zstd.SpeedDefault, true)
	defer putZstdEncoder(zstd.SpeedDefault, true, e)
	return e.EncodeAll(p, nil)
}

func TestRunRecordRefusals(t *testing.T) {
	data := bytes.Repeat([]byte("run of blocks "), 3*MinBlockSize/14+1)[:3*MinBlockSize]
	good := zstdFrame(data)
	require.Less(t, len(good), len(data))
	g := Geometry{Size: 8 * MinBlockSize, BlockSize: MinBlockSize}
	v1 := testHeader([]Geometry{g})
	data2 := data[:2*MinBlockSize]
	cases := map[string][]byte{
		"run in a version 1 stream":   newRawStream(&v1).record(uint8(RecordData), flagZstd, 0, 1, 3, good).bytes(),
		"raw run":                     runStream(uint8(RecordData), 0, 1, 3, data),
		"run with pages":              runStream(uint8(RecordData), flagZstd|flagPages, 1, 3, append([]byte{1}, good...)),
		"run as a copy source":        runStream(uint8(RecordData), flagZstd|flagSource, 1, 3, good),
		"run past the volume":         runStream(uint8(RecordData), flagZstd, 6, 3, good),
		"frame of fewer bytes":        runStream(uint8(RecordData), flagZstd, 1, 3, zstdFrame(data2)),
		"frame of more bytes":         runStream(uint8(RecordData), flagZstd, 1, 2, good),
		"frame as large as its bytes": runStream(uint8(RecordData), flagZstd, 1, 3, make([]byte, 3*MinBlockSize)),
		"empty frame":                 runStream(uint8(RecordData), flagZstd, 1, 3, nil),
		"bomb":                        runStream(uint8(RecordData), flagZstd, 1, 2, zstdFrame(make([]byte, 64<<20))),
		"garbage frame":               runStream(uint8(RecordData), flagZstd, 1, 3, bytes.Repeat([]byte{0x28, 0xb5}, 50)),
		// The payload is one frame: zstd would decode what follows it too.
		"frame and an empty frame": runStream(uint8(RecordData), flagZstd, 1, 3, append(slices.Clone(good), zstdFrame(nil)...)),
		"frame and a skippable frame": runStream(uint8(RecordData), flagZstd, 1, 3,
			append(slices.Clone(good), 0x50, 0x2a, 0x4d, 0x18, 2, 0, 0, 0, 'h', 'i')),
		"frame and a byte":     runStream(uint8(RecordData), flagZstd, 1, 3, append(slices.Clone(good), 0)),
		"frame cut in a block": runStream(uint8(RecordData), flagZstd, 1, 3, good[:len(good)-1]),
	}
	for name, stream := range cases {
		t.Run(name, func(t *testing.T) {
			_, err := Verify(bytes.NewReader(stream))
			var ce *CorruptError
			require.ErrorAs(t, err, &ce)
			require.ErrorIs(t, err, ErrCorrupt)
			img := bytes.Repeat([]byte{0x5a}, int(g.Size))
			mv, targets := newTargets([][]byte{img})
			_, err = Apply(context.Background(), bytes.NewReader(stream), targets)
			require.ErrorIs(t, err, ErrCorrupt)
			assert.True(t, bytes.Equal(img, mv[0].data), "target changed")
		})
	}
	// The good record itself is accepted, and its blocks come out one by
	// one.
	_, recs := readRecords(t, runStream(uint8(RecordData), flagZstd, 1, 3, good))
	require.Len(t, recs, 3)
	for i, r := range recs {
		assert.Equal(t, Record{Kind: RecordData, Block: int64(1 + i), Count: 1, Data: data[i*MinBlockSize : (i+1)*MinBlockSize]}, r)
	}
}

func TestRunLongerThanMaxRunBytesIsRefused(t *testing.T) {
	g := Geometry{Size: 4 * MaxBlockSize, BlockSize: MaxBlockSize}
	h := testHeader([]Geometry{g})
	s := &rawStream{}
	s.buf.Write(appendHeaderVersion(nil, &h, FormatVersion))
	stream := s.record(uint8(RecordData), flagZstd, 0, 0, 3, zstdFrame(make([]byte, 1000))).bytes()
	_, err := Verify(bytes.NewReader(stream))
	var ce *CorruptError
	require.ErrorAs(t, err, &ce)
	assert.Contains(t, ce.Error(), "exceeds")
}

func TestUnknownVersionIsRefused(t *testing.T) {
	g := Geometry{Size: MinBlockSize, BlockSize: MinBlockSize}
	h := testHeader([]Geometry{g})
	for _, v := range []uint16{0, FormatVersion + 1} {
		s := &rawStream{}
		s.buf.Write(appendHeaderVersion(nil, &h, v))
		_, err := Verify(bytes.NewReader(s.bytes()))
		require.ErrorIs(t, err, ErrCorrupt, "version %d", v)
	}
}

// TestRunStreamCutOrFlippedAnywhere truncates a stream with runs at every
// byte and flips a bit of every byte: each is refused with a typed error
// and Apply leaves the targets as they were.
func TestRunStreamCutOrFlippedAnywhere(t *testing.T) {
	rng := runSeed(t)
	src := mixedSource(rng, MinBlockSize, "0tt0tr0")
	h := testHeader(src.geoms)
	stream, st := encodeSource(t, h, src, WithRunBytes(MaxRunBytes))
	require.Equal(t, int64(5), st.RunBlocks)
	img := bytes.Repeat([]byte{0x5a}, int(src.geoms[0].Size))
	check := func(bad []byte, what string) {
		_, err := Verify(bytes.NewReader(bad))
		require.True(t, isBadStream(err), "%s: %v", what, err)
		mv, targets := newTargets([][]byte{img})
		_, err = Apply(context.Background(), bytes.NewReader(bad), targets)
		require.Error(t, err, what)
		require.True(t, bytes.Equal(img, mv[0].data), "%s: target changed", what)
	}
	for n := 0; n < len(stream); n++ {
		check(stream[:n], "cut")
	}
	for i := range stream {
		bad := bytes.Clone(stream)
		bad[i] ^= 1 << (i % 8)
		check(bad, "flipped")
	}
}

// FuzzDecodeRuns is FuzzDecode seeded with version 2 streams that carry
// data runs (checkDecodeProperties: no panic, bounded allocation, typed
// errors, a stable decode, and a re-encode that writes the same bytes).
func FuzzDecodeRuns(f *testing.F) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, kinds := range []string{"0tt0tr0", "tttt", "rr0rr", "t0t"} {
		src := mixedSource(rng, MinBlockSize, kinds)
		stream, _ := encodeSource(f, testHeader(src.geoms), src, WithRunBytes(MaxRunBytes))
		f.Add(stream)
	}
	data := bytes.Repeat([]byte("run of blocks "), 3*MinBlockSize/14+1)[:3*MinBlockSize]
	f.Add(runStream(uint8(RecordData), flagZstd, 1, 3, zstdFrame(data)))
	f.Fuzz(func(t *testing.T, in []byte) {
		checkDecodeProperties(t, in)
		checkDecodeProperties(t, resign(in))
	})
}

// FuzzRoundTripRuns encodes with runs volumes, dirty sets and page masks
// made from the fuzzer's bytes and checks that decoding and applying give
// them back.
func FuzzRoundTripRuns(f *testing.F) {
	f.Add([]byte("some volume content"), []byte{1, 3, 0x81, 2, 7}, uint8(0), uint16(40000), uint8(3))
	f.Add(bytes.Repeat([]byte{0, 0, 1}, 100), []byte{0xff, 0x02, 0x6}, uint8(2), uint16(65535), uint8(1))
	f.Add([]byte("abc"), []byte{1, 1, 1, 0x81, 1, 1}, uint8(0), uint16(9000), uint8(5))
	f.Fuzz(func(t *testing.T, content, dirty []byte, shift uint8, size uint16, flags uint8) {
		src, old := fuzzSource(content, dirty, shift, size)
		checkRunRoundTrip(t, src, old, WithRunBytes(src.geoms[0].BlockSize<<(flags%6)),
			WithDedup(flags&0x40 != 0), WithConcurrency(1+int(flags>>7)))
	})
}

func TestRunErrorsAreTyped(t *testing.T) {
	// A run refused mid-stream leaves the decoder failed for good.
	data := bytes.Repeat([]byte("x"), 2*MinBlockSize)
	d, err := NewDecoder(bytes.NewReader(runStream(uint8(RecordData), flagZstd, 1, 3, zstdFrame(data))))
	require.NoError(t, err)
	_, err = d.Next()
	require.ErrorIs(t, err, ErrCorrupt)
	_, err2 := d.Next()
	assert.True(t, errors.Is(err2, ErrCorrupt))
}

// TestRunPayloadPastMaxRecordPayload: a run of mostly incompressible
// blocks has a frame larger than any other record may be, below its own
// bound.
func TestRunPayloadPastMaxRecordPayload(t *testing.T) {
	rng := runSeed(t)
	const bs = 64 << 10
	kinds := bytes.Repeat([]byte("trr"), MaxRunBytes/bs/3+1)[:MaxRunBytes/bs]
	src := mixedSource(rng, bs, string(kinds))
	olds := [][]byte{make([]byte, src.geoms[0].Size)}
	stream, st := checkRunRoundTrip(t, src, olds, WithRunBytes(MaxRunBytes))
	require.Equal(t, int64(MaxRunBytes/bs), st.RunBlocks)
	assert.Equal(t, int64(1), st.Records)
	assert.Greater(t, len(stream), MaxRecordPayload)

	// The same size on a record that is no run is refused before anything
	// is read for it.
	g := Geometry{Size: 8 * MinBlockSize, BlockSize: MinBlockSize}
	h := testHeader([]Geometry{g})
	for _, c := range []struct {
		count uint64
		plen  uint32
	}{{1, MaxRecordPayload + 1}, {3, MaxRunBytes}} {
		s := &rawStream{}
		s.buf.Write(appendHeaderVersion(nil, &h, FormatVersion))
		rh := recHeader{kind: uint8(RecordData), flags: flagZstd, block: 1, count: c.count, plen: c.plen}
		var hdr [recHeaderLen]byte
		rh.put(hdr[:])
		s.buf.Write(hdr[:])
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		_, err := Verify(bytes.NewReader(s.buf.Bytes()))
		runtime.ReadMemStats(&after)
		var ce *CorruptError
		require.ErrorAs(t, err, &ce, "count %d, payload %d", c.count, c.plen)
		assert.Less(t, after.TotalAlloc-before.TotalAlloc, uint64(1<<20))
	}
}
