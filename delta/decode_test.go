package delta

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"io"
	"runtime"
	"testing"

	"github.com/klauspost/compress/zstd"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// smallSource is a deterministic two-volume source that yields every kind
// of record in a small stream: zero runs, zstd and raw data, copies within
// and across volumes, page masks of data and zero pages, a short block.
func smallSource() *memSource {
	const bs = 2 * PageSize
	g0 := Geometry{Size: 5*bs + 1000, BlockSize: bs}
	g1 := Geometry{Size: 3 * bs, BlockSize: bs}
	v0 := make([]byte, g0.Size)
	v1 := make([]byte, g1.Size)
	text := bytes.Repeat([]byte("block replica text "), bs)
	copy(v0[2*bs:3*bs], text)     // b2: zstd data
	copy(v0[3*bs:4*bs], text)     // b3: copy of b2
	copy(v0[4*bs:5*bs], text[7:]) // b4: page 1 only
	for i := range 1000 {         // b5: short, raw
		v0[5*bs+i] = byte(i*i*7 + i>>3)
	}
	copy(v1[0:bs], text)             // v1 b0: copy of v0 b2
	copy(v1[bs+PageSize:2*bs], text) // v1 b1: page 0 selected, zero
	s0, s1 := NewSet(g0.Blocks()), NewSet(g1.Blocks())
	s0.AddRange(0, 6)
	s1.AddRange(0, 2)
	return &memSource{
		geoms:  []Geometry{g0, g1},
		vols:   [][]byte{v0, v1},
		blocks: []*Set{s0, s1},
		masks:  map[blockAddr]PageMask{{0, 4}: {0b10}, {1, 1}: {0b01}},
	}
}

func smallStream(t testing.TB) (*memSource, Header, []byte) {
	src := smallSource()
	h := testHeader(src.geoms)
	stream, st := encodeSource(t, h, src, WithConcurrency(2))
	require.Equal(t, EncodeStats{Records: 7, DataBlocks: 3, PageRecords: 2, ZeroBlocks: 3, CopyBlocks: 2,
		RawBytes: 5*2*PageSize + 2*PageSize + 1000, StreamBytes: st.StreamBytes, BufferBytes: st.BufferBytes}, st)
	return src, h, stream
}

func oldImages(src *memSource) [][]byte {
	olds := make([][]byte, len(src.vols))
	for i, v := range src.vols {
		olds[i] = bytes.Repeat([]byte{0xA5}, len(v))
	}
	return olds
}

func TestSmallStreamRecords(t *testing.T) {
	src, h, stream := smallStream(t)
	gotH, recs := readRecords(t, stream, WithExpect(h.Group, h.Base))
	assert.Equal(t, h.New, gotH.New)
	assert.Equal(t, h.Consistency, gotH.Consistency)
	text := src.vols[0][2*PageSize*2 : 3*PageSize*2]
	want := []Record{
		{Volume: 0, Kind: RecordZero, Block: 0, Count: 2},
		{Volume: 0, Kind: RecordData, Block: 2, Count: 1, Data: text},
		{Volume: 0, Kind: RecordCopy, Block: 3, Count: 1, FromVolume: 0, FromBlock: 2},
		{Volume: 0, Kind: RecordData, Block: 4, Count: 1, Pages: PageMask{0b10}, Data: src.vols[0][4*2*PageSize+PageSize : 5*2*PageSize]},
		{Volume: 0, Kind: RecordData, Block: 5, Count: 1, Data: src.vols[0][5*2*PageSize:]},
		{Volume: 1, Kind: RecordCopy, Block: 0, Count: 1, FromVolume: 0, FromBlock: 2},
		{Volume: 1, Kind: RecordZero, Block: 1, Count: 1, Pages: PageMask{0b01}},
	}
	assert.Equal(t, want, recs)

	mv, targets := newTargets(oldImages(src))
	_, err := Apply(context.Background(), bytes.NewReader(stream), targets)
	require.NoError(t, err)
	for v := range src.vols {
		assert.True(t, bytes.Equal(expectedImage(src, v, oldImages(src)[v]), mv[v].snapshot()), "volume %d", v)
	}
}

// checkRefused asserts that stream is refused by Verify, a Decoder and
// Apply, and that Apply left the targets as they were.
func checkRefused(t *testing.T, src *memSource, stream []byte, what string, opts ...DecoderOption) {
	t.Helper()
	_, err := Verify(bytes.NewReader(stream), opts...)
	if !assert.True(t, isBadStream(err), "%s: Verify gave %v", what, err) {
		return
	}
	olds := oldImages(src)
	mv, targets := newTargets(olds)
	aopts := make([]ApplyOption, len(opts))
	for i, o := range opts {
		aopts[i] = o
	}
	_, err = Apply(context.Background(), bytes.NewReader(stream), targets, aopts...)
	assert.True(t, isBadStream(err), "%s: Apply gave %v", what, err)
	for v := range mv {
		if !bytes.Equal(olds[v], mv[v].data) {
			t.Fatalf("%s: Apply changed volume %d", what, v)
		}
	}
}

func TestTruncatedAtEveryByte(t *testing.T) {
	src, _, stream := smallStream(t)
	for n := range len(stream) {
		checkRefused(t, src, stream[:n], "truncated")
	}
	checkRefused(t, src, append(append([]byte(nil), stream...), 0), "trailing byte")
}

func TestBitFlipAtEveryByte(t *testing.T) {
	src, _, stream := smallStream(t)
	bad := make([]byte, len(stream))
	for i := range stream {
		for bit := range 8 {
			if !flipAllBits && bit != i%8 {
				continue
			}
			copy(bad, stream)
			bad[i] ^= 1 << bit
			if bit == i%8 {
				checkRefused(t, src, bad, "bit flip")
			} else {
				_, err := Verify(bytes.NewReader(bad))
				assert.True(t, isBadStream(err), "Verify gave %v", err)
			}
			if t.Failed() {
				t.Fatalf("byte %d bit %d", i, bit)
			}
		}
	}
}

func TestRefusedStreams(t *testing.T) {
	src := smallSource()
	h := testHeader(src.geoms)
	text := src.vols[0][4*PageSize : 6*PageSize]
	var cp [10]byte
	binary.BigEndian.PutUint64(cp[2:], 2)
	copyFrom := func(vol uint16, block uint64) []byte {
		var p [10]byte
		binary.BigEndian.PutUint16(p[:], vol)
		binary.BigEndian.PutUint64(p[2:], block)
		return p[:]
	}
	data := uint8(RecordData)
	zero := uint8(RecordZero)
	cpy := uint8(RecordCopy)
	for name, s := range map[string]*rawStream{
		"data past the volume's end":  newRawStream(&h).record(data, 0, 0, 6, 1, text),
		"zero run past the end":       newRawStream(&h).record(zero, 0, 0, 4, 3, nil),
		"zero run of no blocks":       newRawStream(&h).record(zero, 0, 0, 4, 0, nil),
		"huge zero run":               newRawStream(&h).record(zero, 0, 0, 4, 1<<63, nil),
		"volume past the last":        newRawStream(&h).record(zero, 0, 2, 0, 1, nil),
		"out of order":                newRawStream(&h).record(zero, 0, 0, 3, 1, nil).record(zero, 0, 0, 2, 1, nil),
		"same block twice":            newRawStream(&h).record(zero, 0, 0, 3, 1, nil).record(data, 0, 0, 3, 1, text),
		"overlapping run":             newRawStream(&h).record(zero, 0, 0, 1, 3, nil).record(zero, 0, 0, 3, 1, nil),
		"earlier volume":              newRawStream(&h).record(zero, 0, 1, 0, 1, nil).record(zero, 0, 0, 3, 1, nil),
		"short raw data":              newRawStream(&h).record(data, 0, 0, 1, 1, text[:100]),
		"data run":                    newRawStream(&h).record(data, 0, 0, 1, 2, text),
		"copy of no source":           newRawStream(&h).record(data, 0, 0, 2, 1, text).record(cpy, 0, 0, 3, 1, copyFrom(0, 2)),
		"copy of a later block":       newRawStream(&h).record(cpy, 0, 0, 1, 1, copyFrom(0, 2)).record(data, flagSource, 0, 2, 1, text),
		"copy of another length":      newRawStream(&h).record(data, flagSource, 0, 2, 1, text).record(cpy, 0, 0, 5, 1, copyFrom(0, 2)),
		"copy payload short":          newRawStream(&h).record(data, flagSource, 0, 2, 1, text).record(cpy, 0, 0, 3, 1, cp[:9]),
		"source with pages":           newRawStream(&h).record(data, flagSource|flagPages, 0, 2, 1, append([]byte{1}, text[:PageSize]...)),
		"full page mask":              newRawStream(&h).record(data, flagPages, 0, 2, 1, append([]byte{3}, text...)),
		"empty page mask":             newRawStream(&h).record(zero, flagPages, 0, 2, 1, []byte{0}),
		"mask past the block":         newRawStream(&h).record(zero, flagPages, 0, 2, 1, []byte{5}),
		"zero with payload":           newRawStream(&h).record(zero, 0, 0, 2, 1, []byte{0}),
		"reserved flag":               newRawStream(&h).record(zero, 0x40, 0, 2, 1, nil),
		"zstd flag on zero":           newRawStream(&h).record(zero, flagZstd, 0, 2, 1, nil),
		"unknown kind, not skippable": newRawStream(&h).record(9, 0, 0, 2, 1, []byte("future")),
		"known kind marked skippable": newRawStream(&h).record(zero|kindSkippable, 0, 0, 2, 1, nil),
		"zstd not smaller":            newRawStream(&h).record(data, flagZstd, 0, 2, 1, text),
		"zstd garbage":                newRawStream(&h).record(data, flagZstd, 0, 2, 1, text[:500]),
	} {
		t.Run(name, func(t *testing.T) {
			stream := s.bytes()
			_, err := Verify(bytes.NewReader(stream))
			var ce *CorruptError
			require.ErrorAs(t, err, &ce)
			checkRefused(t, src, stream, name)
		})
	}

	t.Run("trailer count", func(t *testing.T) {
		s := newRawStream(&h).record(zero, 0, 0, 2, 1, nil)
		s.count++
		checkRefused(t, src, s.bytes(), "count")
	})
}

func TestSkippableRecord(t *testing.T) {
	src := smallSource()
	h := testHeader(src.geoms)
	text := src.vols[0][4*PageSize : 6*PageSize]
	plain := newRawStream(&h).record(uint8(RecordData), 0, 0, 2, 1, text).bytes()
	// A future kind, skippable, with fields this version does not check.
	with := newRawStream(&h).record(0x80|42, 0xff, 9999, 1<<60, 0, []byte("a future record")).
		record(uint8(RecordData), 0, 0, 2, 1, text).record(0x80|43, 0, 0, 0, 0, nil).bytes()
	_, want := readRecords(t, plain)
	_, got := readRecords(t, with)
	assert.Equal(t, want, got)
	require.Len(t, got, 1)
	assert.Equal(t, text, got[0].Data)

	// The skipped record's checksum is still checked.
	bad := append([]byte(nil), with...)
	bad[len(appendHeader(nil, &h))+recHeaderLen+3] ^= 1
	checkRefused(t, src, bad, "skippable with bad checksum")
}

func TestExpectAndLimits(t *testing.T) {
	src, h, stream := smallStream(t)
	for name, tc := range map[string]struct {
		opts []DecoderOption
		want error
	}{
		"other group":     {[]DecoderOption{WithExpect("other", h.Base)}, ErrMismatch},
		"other base":      {[]DecoderOption{WithExpect(h.Group, PointID{9})}, ErrMismatch},
		"full expected":   {[]DecoderOption{WithExpect(h.Group, PointID{})}, ErrMismatch},
		"too many vols":   {[]DecoderOption{WithMaxVolumes(1)}, ErrLimit},
		"block too large": {[]DecoderOption{WithMaxBlockSize(PageSize)}, ErrLimit},
		"stream too long": {[]DecoderOption{WithMaxStreamBytes(int64(len(stream) - 1))}, ErrLimit},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := Verify(bytes.NewReader(stream), tc.opts...)
			assert.ErrorIs(t, err, tc.want)
			olds := oldImages(src)
			mv, targets := newTargets(olds)
			opts := make([]ApplyOption, len(tc.opts))
			for i, o := range tc.opts {
				opts[i] = o
			}
			_, err = Apply(context.Background(), bytes.NewReader(stream), targets, opts...)
			assert.ErrorIs(t, err, tc.want)
			for v := range mv {
				assert.True(t, bytes.Equal(olds[v], mv[v].data), "volume %d changed", v)
			}
		})
	}
	_, err := Verify(bytes.NewReader(stream), WithMaxStreamBytes(int64(len(stream))))
	assert.NoError(t, err)
}

func TestApplyTargetMismatch(t *testing.T) {
	src, _, stream := smallStream(t)
	olds := oldImages(src)
	for name, tc := range map[string]struct {
		imgs [][]byte
		opts []ApplyOption
	}{
		"one target":       {olds[:1], nil},
		"three targets":    {append(append([][]byte(nil), olds...), olds[0]), nil},
		"smaller volume":   {[][]byte{olds[0][:100], olds[1]}, nil},
		"other block size": {olds, []ApplyOption{WithTargetGeometries([]Geometry{{Size: src.geoms[0].Size, BlockSize: 4 * PageSize}, src.geoms[1]})}},
		"other size":       {olds, []ApplyOption{WithTargetGeometries([]Geometry{src.geoms[1], src.geoms[1]})}},
	} {
		t.Run(name, func(t *testing.T) {
			mv, targets := newTargets(tc.imgs)
			_, err := Apply(context.Background(), bytes.NewReader(stream), targets, tc.opts...)
			assert.ErrorIs(t, err, ErrMismatch)
			for v := range mv {
				assert.True(t, bytes.Equal(tc.imgs[v], mv[v].data), "volume %d changed", v)
			}
		})
	}
	mv, targets := newTargets(olds)
	_, err := Apply(context.Background(), bytes.NewReader(stream), targets, WithTargetGeometries(src.geoms))
	require.NoError(t, err)
	for v := range mv {
		assert.True(t, bytes.Equal(expectedImage(src, v, olds[v]), mv[v].data), "volume %d", v)
	}
}

func TestApplyCancelledWritesNothing(t *testing.T) {
	src, _, stream := smallStream(t)
	olds := oldImages(src)
	mv, targets := newTargets(olds)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := Apply(ctx, bytes.NewReader(stream), targets)
	assert.ErrorIs(t, err, context.Canceled)
	for v := range mv {
		assert.True(t, bytes.Equal(olds[v], mv[v].data), "volume %d changed", v)
	}
}

func TestLengthPastLimitAllocatesNothing(t *testing.T) {
	src := smallSource()
	h := testHeader(src.geoms)
	hdr := appendHeader(nil, &h)
	for name, tc := range map[string][]byte{
		"record payload": func() []byte {
			rh := recHeader{kind: 0x80 | 50, plen: 1 << 31}
			var b [recHeaderLen]byte
			rh.put(b[:])
			return append(append([]byte(nil), hdr...), b[:]...)
		}(),
		"data payload past block": func() []byte {
			rh := recHeader{kind: uint8(RecordData), block: 1, count: 1, plen: MaxRecordPayload}
			var b [recHeaderLen]byte
			rh.put(b[:])
			return append(append([]byte(nil), hdr...), b[:]...)
		}(),
		"header body": func() []byte {
			b := append([]byte(nil), hdr[:prefixLen]...)
			binary.BigEndian.PutUint32(b[10:], 1<<31)
			return b
		}(),
	} {
		t.Run(name, func(t *testing.T) {
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			_, err := Verify(bytes.NewReader(tc))
			runtime.ReadMemStats(&after)
			var ce *CorruptError
			require.ErrorAs(t, err, &ce)
			assert.Less(t, after.TotalAlloc-before.TotalAlloc, uint64(1<<20))
		})
	}
}

func TestZstdBomb(t *testing.T) {
	src := smallSource()
	src.geoms[0].BlockSize = 64 << 10
	src.geoms[0].Size = 4 << 20
	h := testHeader(src.geoms[:1])
	h.BlockSize = 64 << 10

	// 256 MiB of zeros squeezed into a few KiB, in three shapes: no
	// declared size, a true declared size, and a false small one.
	var noSize bytes.Buffer
	zw, err := zstd.NewWriter(&noSize, zstd.WithEncoderConcurrency(1))
	require.NoError(t, err)
	zeros := make([]byte, 1<<20)
	for range 256 {
		_, err := zw.Write(zeros)
		require.NoError(t, err)
	}
	require.NoError(t, zw.Close())
	enc, err := zstd.NewWriter(nil, zstd.WithEncoderConcurrency(1))
	require.NoError(t, err)
	trueSize := enc.EncodeAll(make([]byte, 64<<20), nil)
	require.NoError(t, enc.Close())
	// A frame that declares 64 KiB but holds a 1 MiB block run: the
	// declared size is patched in the frame header.
	lying := patchContentSize(t, enc, 64<<10)

	for name, frame := range map[string][]byte{"unknown size": noSize.Bytes(), "true size": trueSize, "false size": lying} {
		t.Run(name, func(t *testing.T) {
			require.Less(t, len(frame), 64<<10)
			stream := newRawStream(&h).record(uint8(RecordData), flagZstd, 0, 1, 1, frame).bytes()
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			_, err := Verify(bytes.NewReader(stream))
			runtime.ReadMemStats(&after)
			var ce *CorruptError
			require.ErrorAs(t, err, &ce)
			assert.Less(t, after.TotalAlloc-before.TotalAlloc, uint64(16<<20))
			mv := newMemVolume(h.Volumes[0].Size)
			_, err = Apply(context.Background(), bytes.NewReader(stream), []Target{mv})
			assert.ErrorIs(t, err, ErrCorrupt)
			assert.True(t, isZero(mv.data))
		})
	}
}

// patchContentSize returns a zstd frame of 1 MiB of zeros whose header
// claims size bytes.
func patchContentSize(t *testing.T, _ *zstd.Encoder, size int) []byte {
	t.Helper()
	big, err := zstd.NewWriter(nil, zstd.WithEncoderConcurrency(1), zstd.WithSingleSegment(true))
	require.NoError(t, err)
	defer big.Close()
	frame := big.EncodeAll(make([]byte, 1<<20), nil)
	var fh zstd.Header
	require.NoError(t, fh.Decode(frame))
	require.True(t, fh.HasFCS)
	// Frame header: magic (4), descriptor (1), [window], content size.
	desc := frame[4]
	fcsFlag := desc >> 6
	single := desc&0x20 != 0
	at := 5
	if !single {
		at++
	}
	switch fcsFlag {
	case 2:
		binary.LittleEndian.PutUint32(frame[at:], uint32(size))
	case 3:
		binary.LittleEndian.PutUint64(frame[at:], uint64(size))
	default:
		t.Fatalf("unexpected content size field %d", fcsFlag)
	}
	require.NoError(t, fh.Decode(frame))
	require.Equal(t, uint64(size), fh.FrameContentSize)
	return frame
}

func TestDecoderClose(t *testing.T) {
	_, _, stream := smallStream(t)
	d, err := NewDecoder(bytes.NewReader(stream))
	require.NoError(t, err)
	_, err = d.Next()
	require.NoError(t, err)
	require.NoError(t, d.Close())
	require.NoError(t, d.Close())
	_, err = d.Next()
	assert.ErrorIs(t, err, ErrClosed)
}

func TestDecoderReadError(t *testing.T) {
	_, _, stream := smallStream(t)
	boom := errors.New("disk on fire")
	r := io.MultiReader(bytes.NewReader(stream[:200]), errReader{boom})
	_, err := Verify(r)
	assert.ErrorIs(t, err, boom)
	assert.NotErrorIs(t, err, ErrCorrupt)
}

type errReader struct{ err error }

func (e errReader) Read([]byte) (int, error) { return 0, e.err }
