package delta

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"os"
	"runtime"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/zeebo/blake3"
)

// FuzzDecode feeds arbitrary bytes to the decoder. Properties: no panic;
// bounded allocation; a refused stream gives a typed error; an accepted
// stream decodes the same way twice, and re-encoding what it wrote gives
// a stream that writes the same bytes to the same blocks and pages.
func FuzzDecode(f *testing.F) {
	golden, err := os.ReadFile(goldenPath)
	require.NoError(f, err)
	f.Add(golden)
	_, _, small := smallStream(f)
	f.Add(small)
	src := smallSource()
	h := testHeader(src.geoms)
	f.Add(newRawStream(&h).record(0x80|42, 0, 0, 0, 0, []byte("future")).record(uint8(RecordZero), 0, 1, 0, 2, nil).bytes())
	f.Add(newRawStream(&h).bytes())
	f.Fuzz(func(t *testing.T, in []byte) {
		checkDecodeProperties(t, in)
		// Checksums stop almost every mutation at the first check; with
		// them recomputed the fuzzer reaches the semantic checks too.
		checkDecodeProperties(t, resign(in))
	})
}

func checkDecodeProperties(t *testing.T, in []byte) {
	{
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		hdr, err := Verify(bytes.NewReader(in))
		runtime.ReadMemStats(&after)
		// Header ≤ 1.2 MiB, one payload ≤ 4 MiB + 1 KiB, one block of
		// output, the reader's buffer: far below this whatever the input.
		assert.Less(t, after.TotalAlloc-before.TotalAlloc, uint64(32<<20)+8*uint64(len(in)))
		if err != nil {
			var ce *CorruptError
			if !errors.As(err, &ce) && !errors.Is(err, ErrLimit) {
				t.Fatalf("untyped error for a bad stream: %v", err)
			}
			return
		}
		_, recs := readRecords(t, in)
		_, again := readRecords(t, in)
		require.Equal(t, recs, again)

		var total int64
		for _, v := range hdr.Volumes {
			total += v.Size
		}
		if total > 32<<20 {
			return
		}
		// Apply to zero volumes, rebuild a source from the result and
		// the records' coverage, encode it again and compare.
		imgs := make([][]byte, len(hdr.Volumes))
		for i, v := range hdr.Volumes {
			imgs[i] = make([]byte, v.Size)
		}
		mv, targets := newTargets(imgs)
		_, err = Apply(context.Background(), bytes.NewReader(in), targets)
		require.NoError(t, err)
		re := &memSource{geoms: hdr.Geometries(), masks: map[blockAddr]PageMask{}}
		for i, g := range re.geoms {
			re.vols = append(re.vols, mv[i].snapshot())
			re.blocks = append(re.blocks, NewSet(g.Blocks()))
		}
		for _, r := range recs {
			re.blocks[r.Volume].AddRange(r.Block, r.Count)
			if r.Pages != nil {
				re.masks[blockAddr{r.Volume, r.Block}] = r.Pages
			}
		}
		checkRoundTrip(t, re, imgs)
	}
}

// resign returns a copy of a stream with every checksum, the trailer's
// count and the stream hash recomputed, as far as its framing parses.
func resign(in []byte) []byte {
	out := append([]byte(nil), in...)
	if len(out) < prefixLen {
		return out
	}
	n := int(binary.BigEndian.Uint32(out[10:]))
	end := prefixLen + n
	if n > MaxHeaderBytes || end+checksumLen > len(out) {
		return out
	}
	hs := blake3.Sum256(out[:end])
	copy(out[end:], hs[:checksumLen])
	var count uint64
	for p := end + checksumLen; p < len(out); {
		if out[p] == kindTrailer {
			if p+trailerLen <= len(out) {
				binary.BigEndian.PutUint64(out[p+1:], count)
				sum := blake3.Sum256(out[:p+9])
				copy(out[p+9:], sum[:])
			}
			return out
		}
		if p+recHeaderLen > len(out) {
			return out
		}
		plen := int(binary.BigEndian.Uint32(out[p+20:]))
		q := p + recHeaderLen + plen
		if plen > MaxRecordPayload || q+checksumLen > len(out) {
			return out
		}
		ph := blake3.Sum256(out[p+recHeaderLen : q])
		var sum [checksumLen]byte
		recordChecksum(&sum, out[p:p+recHeaderLen], &ph)
		copy(out[q:], sum[:])
		count++
		p = q + checksumLen
	}
	return out
}

// FuzzRoundTrip encodes volumes, dirty sets and page masks made from the
// fuzzer's bytes and checks that decoding and applying give them back.
func FuzzRoundTrip(f *testing.F) {
	f.Add([]byte("some volume content"), []byte{1, 3, 0x81, 2, 7}, uint8(0), uint16(40000), uint8(3))
	f.Add([]byte{}, []byte{}, uint8(1), uint16(0), uint8(0))
	f.Add(bytes.Repeat([]byte{0, 0, 1}, 100), []byte{0xff, 0x02, 0x6}, uint8(2), uint16(65535), uint8(1))
	f.Fuzz(func(t *testing.T, content, dirty []byte, shift uint8, size uint16, flags uint8) {
		src, old := fuzzSource(content, dirty, shift, size)
		checkRoundTrip(t, src, old,
			WithCompression(flags&1 != 0), WithDedup(flags&2 != 0), WithConcurrency(1+int(flags>>2)%3))
	})
}

// fuzzSource builds one volume, its dirty set and page masks from a
// fuzzer's bytes (see FuzzRoundTrip), and the replica's old content.
func fuzzSource(content, dirty []byte, shift uint8, size uint16) (*memSource, [][]byte) {
	bs := MinBlockSize << (shift % 3)
	g := Geometry{Size: int64(size) * 4, BlockSize: bs}
	img := make([]byte, g.Size)
	at := func(b []byte, i int64) byte {
		if len(b) == 0 {
			return 0
		}
		return b[i%int64(len(b))]
	}
	for b := range g.Blocks() {
		off, n := g.BlockBounds(b)
		if at(dirty, b)&0x80 != 0 || len(content) == 0 {
			continue // a zero block
		}
		for i := range int64(n) {
			img[off+i] = content[(i+b*int64(at(dirty, b)&0x0c))%int64(len(content))]
		}
	}
	set := NewSet(g.Blocks())
	masks := map[blockAddr]PageMask{}
	for b := range g.Blocks() {
		d := at(dirty, b)
		if len(dirty) == 0 || d&1 != 0 {
			set.Add(b)
		}
		if d&2 != 0 {
			masks[blockAddr{0, b}] = PageMask{uint64(at(dirty, b+1))}
		}
	}
	old := bytes.Repeat([]byte{0x5a}, len(img))
	return &memSource{geoms: []Geometry{g}, vols: [][]byte{img}, blocks: []*Set{set}, masks: masks}, [][]byte{old}
}
