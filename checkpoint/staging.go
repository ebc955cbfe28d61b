package checkpoint

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	"github.com/blockrep/blockrep/delta"
)

// The staging file holds a verified stream's records decoded — plain
// bytes, no compression, no checksums — so that the apply pass, which
// reads them back in the same process, neither decompresses nor rehashes
// them a second time. It is never read after a crash (recovery rolls back
// from the undo log), so it is not synced.
//
//	record: u8 kind | u32 volume | u64 block | u64 count | u16 mask words |
//	        u32 from volume | u64 from block | u32 data length | mask words (u64) | data
//	end:    u8 0
const stageRecHeader = 1 + 4 + 8 + 8 + 2 + 4 + 8 + 4

// stageWriter writes decoded records to the staging file (or memory, see
// stagedStream).
type stageWriter struct {
	bw  io.Writer
	hdr [stageRecHeader]byte
}

func (w *stageWriter) write(r *delta.Record) error {
	h := w.hdr[:]
	h[0] = byte(r.Kind)
	binary.LittleEndian.PutUint32(h[1:], uint32(r.Volume))
	binary.LittleEndian.PutUint64(h[5:], uint64(r.Block))
	binary.LittleEndian.PutUint64(h[13:], uint64(r.Count))
	binary.LittleEndian.PutUint16(h[21:], uint16(len(r.Pages)))
	binary.LittleEndian.PutUint32(h[23:], uint32(r.FromVolume))
	binary.LittleEndian.PutUint64(h[27:], uint64(r.FromBlock))
	binary.LittleEndian.PutUint32(h[35:], uint32(len(r.Data)))
	if _, err := w.bw.Write(h); err != nil {
		return err
	}
	if len(r.Pages) > 0 {
		words := make([]byte, 0, 8*len(r.Pages))
		for _, m := range r.Pages {
			words = binary.LittleEndian.AppendUint64(words, m)
		}
		if _, err := w.bw.Write(words); err != nil {
			return err
		}
	}
	_, err := w.bw.Write(r.Data)
	return err
}

func (w *stageWriter) end() error {
	if _, err := w.bw.Write([]byte{0}); err != nil {
		return err
	}
	if f, ok := w.bw.(interface{ Flush() error }); ok {
		return f.Flush()
	}
	return nil
}

// stageReader reads the records back: first those in memory, then those
// in the staging file. The file was written by this process from a
// verified stream whose header matched the group, but every field is still
// checked against the group's geometry, so a disk that returns garbage
// cannot make the apply allocate or index wildly.
type stageReader struct {
	mem       []byte        // the records in memory: Data points into it
	pos       int           // read offset in mem
	br        *bufio.Reader // the rest, in the staging file; nil: none
	geoms     []delta.Geometry
	blockSize int
	rec       delta.Record
	inMem     bool   // the last record's Data points into mem
	data      []byte // the Data of a record read from the file
	hdr       [stageRecHeader]byte
}

func newStageReader(r io.Reader, geoms []delta.Geometry) *stageReader {
	s := &stageReader{geoms: geoms, blockSize: geoms[0].BlockSize}
	s.spill(r)
	return s
}

// newMemStageReader reads records staged in memory without copying them:
// a record's Data stays valid as long as mem does.
func newMemStageReader(mem []byte, geoms []delta.Geometry) *stageReader {
	return &stageReader{mem: mem, geoms: geoms, blockSize: geoms[0].BlockSize}
}

// spill makes r, the staging file, the continuation of the records in
// memory.
func (s *stageReader) spill(r io.Reader) {
	s.br = bufio.NewReaderSize(r, readBuffer)
	s.data = make([]byte, s.blockSize)
}

// stable reports whether every record's Data stays valid after the next
// call to Next (all of them are in memory).
func (s *stageReader) stable() bool { return s.br == nil }

// dataStable reports whether the Data of the record the last Next returned
// stays valid after the next call (it points into the staged memory).
func (s *stageReader) dataStable() bool { return s.inMem }

// take returns the next n bytes: a slice of mem, or, from where mem ends,
// read into scratch (a record may begin in memory and end in the file).
func (s *stageReader) take(n int, scratch []byte) (b []byte, inMem bool, err error) {
	if len(s.mem)-s.pos >= n {
		b := s.mem[s.pos : s.pos+n : s.pos+n]
		s.pos += n
		return b, true, nil
	}
	if s.br == nil {
		s.pos = len(s.mem)
		return nil, false, io.ErrUnexpectedEOF
	}
	b = scratch[:n]
	got := copy(b, s.mem[s.pos:])
	s.pos = len(s.mem)
	if _, err := io.ReadFull(s.br, b[got:]); err != nil {
		return nil, false, err
	}
	return b, false, nil
}

var errStaging = errors.New("checkpoint: staging file damaged")

// Next returns the next record, valid until the next call (longer for a
// stable reader), or io.EOF.
func (s *stageReader) Next() (*delta.Record, error) {
	s.inMem = false
	k, _, err := s.take(1, s.hdr[:1])
	if err != nil {
		return nil, fmt.Errorf("%w: %w", errStaging, err)
	}
	kind := k[0]
	if kind == 0 {
		return nil, io.EOF
	}
	rest, _, err := s.take(stageRecHeader-1, s.hdr[1:])
	if err != nil {
		return nil, fmt.Errorf("%w: %w", errStaging, err)
	}
	h := s.hdr[:]
	h[0] = kind
	copy(h[1:], rest)
	words := int(binary.LittleEndian.Uint16(h[21:]))
	dlen := int(binary.LittleEndian.Uint32(h[35:]))
	if words > delta.MaxPagesPerBlock/64 || dlen > s.blockSize {
		return nil, fmt.Errorf("%w: record lengths out of range", errStaging)
	}
	s.rec = delta.Record{
		Kind:       delta.RecordKind(kind),
		Volume:     int(binary.LittleEndian.Uint32(h[1:])),
		Block:      int64(binary.LittleEndian.Uint64(h[5:])),
		Count:      int64(binary.LittleEndian.Uint64(h[13:])),
		FromVolume: int(binary.LittleEndian.Uint32(h[23:])),
		FromBlock:  int64(binary.LittleEndian.Uint64(h[27:])),
	}
	if words > 0 {
		var scratch [delta.MaxPagesPerBlock / 64 * 8]byte
		b, _, err := s.take(8*words, scratch[:])
		if err != nil {
			return nil, fmt.Errorf("%w: %w", errStaging, err)
		}
		s.rec.Pages = make(delta.PageMask, words)
		for i := range s.rec.Pages {
			s.rec.Pages[i] = binary.LittleEndian.Uint64(b[8*i:])
		}
	}
	if dlen > 0 || s.rec.Kind == delta.RecordData {
		s.rec.Data, s.inMem, err = s.take(dlen, s.data)
		if err != nil {
			return nil, fmt.Errorf("%w: %w", errStaging, err)
		}
	}
	if err := s.check(); err != nil {
		return nil, err
	}
	return &s.rec, nil
}

// check validates the record in s.rec against the group.
func (s *stageReader) check() error {
	r := &s.rec
	if r.Volume < 0 || r.Volume >= len(s.geoms) {
		return fmt.Errorf("%w: volume %d", errStaging, r.Volume)
	}
	g := s.geoms[r.Volume]
	if r.Block < 0 || r.Count < 1 || r.Block >= g.Blocks() || r.Count > g.Blocks()-r.Block {
		return fmt.Errorf("%w: blocks %d+%d", errStaging, r.Block, r.Count)
	}
	_, blen := g.BlockBounds(r.Block)
	pages := g.BlockPages(r.Block)
	if r.Pages != nil && (r.Count != 1 || len(r.Pages) != (pages+63)/64 || maskOutside(r.Pages, pages)) {
		return fmt.Errorf("%w: page mask", errStaging)
	}
	switch r.Kind {
	case delta.RecordData:
		if r.Count != 1 || len(r.Data) != maskBytes(r.Pages, blen) {
			return fmt.Errorf("%w: data length", errStaging)
		}
	case delta.RecordZero:
	case delta.RecordCopy:
		if r.Count != 1 || r.FromVolume < 0 || r.FromVolume >= len(s.geoms) ||
			r.FromBlock < 0 || r.FromBlock >= s.geoms[r.FromVolume].Blocks() {
			return fmt.Errorf("%w: copy source", errStaging)
		}
	default:
		return fmt.Errorf("%w: record kind %d", errStaging, r.Kind)
	}
	return nil
}

// countReader counts the bytes read through it.
type countReader struct {
	r io.Reader
	n int64
}

func (c *countReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}
