package delta

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/zeebo/blake3"
)

var streamSeedFlag = flag.Uint64("delta.streamseed", 0, "seed for the randomized delta stream tests (0: a new one each run, logged)")

// memSource is a test Source over in-memory volumes with optional page
// masks per block.
type memSource struct {
	geoms  []Geometry
	vols   [][]byte
	blocks []*Set
	masks  map[blockAddr]PageMask
}

func (s *memSource) Geometries() []Geometry { return s.geoms }
func (s *memSource) Blocks(vol int) *Set    { return s.blocks[vol] }
func (s *memSource) Pages(vol int, b int64, dst PageMask) PageMask {
	m, ok := s.masks[blockAddr{vol, b}]
	if !ok {
		return nil
	}
	return append(dst[:0], m...)
}

func (s *memSource) ReadBlock(vol int, b int64, p []byte) error {
	off, n := s.geoms[vol].BlockBounds(b)
	if len(p) != n {
		return fmt.Errorf("read of %d bytes for block of %d", len(p), n)
	}
	copy(p, s.vols[vol][off:off+int64(n)])
	return nil
}

// testHeader returns a valid header for the geometries.
func testHeader(geoms []Geometry) Header {
	h := Header{
		Group:       "vm-01.test_group",
		Base:        PointID{1, 2, 3},
		New:         PointID{4, 5, 6},
		Time:        time.Date(2026, 11, 25, 12, 0, 0, 123456789, time.UTC),
		Consistency: ConsistencyApp,
		BlockSize:   geoms[0].BlockSize,
		Meta:        []byte(`{"vm":"test"}`),
	}
	for i, g := range geoms {
		h.Volumes = append(h.Volumes, VolumeInfo{ID: fmt.Sprintf("disk%d.img", i), Size: g.Size})
	}
	return h
}

// encodeSource encodes src under h and returns the stream.
func encodeSource(t testing.TB, h Header, src Source, opts ...EncoderOption) ([]byte, EncodeStats) {
	t.Helper()
	var buf bytes.Buffer
	e, err := NewEncoder(&buf, h, opts...)
	require.NoError(t, err)
	st, err := e.Encode(context.Background(), src)
	require.NoError(t, err)
	require.Equal(t, int64(buf.Len()), st.StreamBytes)
	return buf.Bytes(), st
}

// expectedImage returns what applying src's dirty pages to old gives.
func expectedImage(src *memSource, vol int, old []byte) []byte {
	out := append([]byte(nil), old...)
	g := src.geoms[vol]
	for b := range src.blocks[vol].All() {
		off, blen := g.BlockBounds(b)
		m := src.masks[blockAddr{vol, b}]
		if m != nil && (m.Count(g.BlockPages(b)) == 0) {
			m = nil
		}
		_ = pageRuns(m, blen, func(o, n int) error {
			copy(out[off+int64(o):], src.vols[vol][off+int64(o):off+int64(o)+int64(n)])
			return nil
		})
	}
	return out
}

// randomContent fills p with a random kind of block content: zeros, text,
// random bytes, or zero and non-zero pages mixed.
func randomContent(rng *rand.Rand, p []byte) {
	switch rng.IntN(4) {
	case 0:
		clear(p)
	case 1:
		const words = "the quick brown fox jumps over a lazy dog replica block delta "
		k := rng.IntN(len(words))
		for i := range p {
			p[i] = words[(i*7+k)%len(words)]
		}
	case 2:
		fillRandom(rng, p)
	default:
		for i := 0; i < len(p); i += PageSize {
			page := p[i:min(i+PageSize, len(p))]
			if (i/PageSize)%2 == 0 {
				clear(page)
			} else {
				fillRandom(rng, page)
			}
		}
	}
}

// newTargets returns memVolumes holding copies of imgs.
func newTargets(imgs [][]byte) ([]*memVolume, []Target) {
	mv := make([]*memVolume, len(imgs))
	ts := make([]Target, len(imgs))
	for i, img := range imgs {
		mv[i] = &memVolume{data: append([]byte(nil), img...)}
		ts[i] = mv[i]
	}
	return mv, ts
}

// readRecords decodes a whole stream into copies of its records.
func readRecords(t testing.TB, stream []byte, opts ...DecoderOption) (*Header, []Record) {
	t.Helper()
	d, err := NewDecoder(bytes.NewReader(stream), opts...)
	require.NoError(t, err)
	var recs []Record
	for {
		r, err := d.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		require.NoError(t, err)
		c := *r
		c.Data = append([]byte(nil), r.Data...)
		c.Pages = append(PageMask(nil), r.Pages...)
		if r.Pages == nil {
			c.Pages = nil
		}
		recs = append(recs, c)
	}
	return d.Header(), recs
}

// isBadStream reports whether err is what a bad stream must give.
func isBadStream(err error) bool {
	return errors.Is(err, ErrCorrupt) || errors.Is(err, ErrMismatch)
}

// rawStream builds streams by hand, with correct checksums, so tests can
// present well-framed but wrong content.
type rawStream struct {
	buf   bytes.Buffer
	count uint64
}

func newRawStream(h *Header) *rawStream {
	s := &rawStream{}
	s.buf.Write(appendHeader(nil, h))
	return s
}

func (s *rawStream) record(kind, flags uint8, vol uint16, block, count uint64, payload []byte) *rawStream {
	rh := recHeader{kind: kind, flags: flags, volume: vol, block: block, count: count, plen: uint32(len(payload))}
	var hdr [recHeaderLen]byte
	rh.put(hdr[:])
	ph := newPayloadHasher()
	var phash [32]byte
	ph.sum(&phash, payload)
	var sum [checksumLen]byte
	recordChecksum(&sum, hdr[:], &phash)
	s.buf.Write(hdr[:])
	s.buf.Write(payload)
	s.buf.Write(sum[:])
	s.count++
	return s
}

func (s *rawStream) bytes() []byte {
	sw := &streamWriter{h: newHasherOver(s.buf.Bytes())}
	var out bytes.Buffer
	out.Write(s.buf.Bytes())
	sw.w = newBufWriter(&out)
	_ = sw.trailer(s.count)
	return out.Bytes()
}

func newHasherOver(b []byte) *blake3.Hasher {
	h := blake3.New()
	h.Write(b)
	return h
}

func newBufWriter(w io.Writer) *bufio.Writer { return bufio.NewWriter(w) }

// patternVolume is a read-only volume of size bytes whose content is made
// on the fly: each 64 KiB chunk is zeros, text-like or random, chosen by
// its index, so a huge volume costs no memory.
type patternVolume struct{ size int64 }

const patternChunk = 64 << 10

var patternText, patternRandom = func() ([]byte, []byte) {
	rng := rand.New(rand.NewPCG(1, 2))
	words := []string{"replica ", "block ", "the ", "volume ", "delta ", "of ", "and ", "checkpoint ", "write ", "data\n", "a ", "in "}
	var text []byte
	for len(text) < 1<<20 {
		text = append(text, words[rng.IntN(len(words))]...)
	}
	random := make([]byte, 1<<20)
	for i := range random {
		random[i] = byte(rng.Uint32())
	}
	return text[:1<<20], random
}()

func (v patternVolume) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 || off > v.size {
		return 0, fmt.Errorf("patternVolume: read at %d outside %d bytes", off, v.size)
	}
	n := int(min(int64(len(p)), v.size-off))
	for done := 0; done < n; {
		pos := off + int64(done)
		chunk := pos / patternChunk
		in := int(pos % patternChunk)
		c := min(n-done, patternChunk-in)
		start := int((uint64(chunk)*2654435761)%uint64(1<<20-patternChunk)) + in
		switch chunk % 3 {
		case 0:
			clear(p[done : done+c])
		case 1:
			copy(p[done:done+c], patternText[start:])
		default:
			copy(p[done:done+c], patternRandom[start:])
		}
		done += c
	}
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

func (v patternVolume) Size() int64 { return v.size }

// fillRandom fills p with random bytes, eight at a time.
func fillRandom(rng *rand.Rand, p []byte) {
	for len(p) >= 8 {
		binary.LittleEndian.PutUint64(p, rng.Uint64())
		p = p[8:]
	}
	for i := range p {
		p[i] = byte(rng.Uint32())
	}
}

type ioReaderAt = io.ReaderAt

var errUnexpectedEOF = io.ErrUnexpectedEOF
