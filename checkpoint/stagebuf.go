package checkpoint

import (
	"bufio"
	"io"
	"math"
	"sync"

	"github.com/blockrep/blockrep/checkpoint/vfs"
	"github.com/blockrep/blockrep/delta"
)

// stagedStream holds a verified stream's decoded records: in memory while
// they fit the store's stage memory, which spares the apply a write and a
// read-back of every byte; past it, in the staging file.
type stagedStream struct {
	fsys  vfs.FS
	name  string
	limit int
	slot  *bufSlot
	mem   []byte
	last  []byte   // what the last Write appended to mem; nil once spilled
	kept  []byte   // mem after a spill, given back on close: last may point into it
	f     vfs.File // non-nil once spilled
	fw    *bufio.Writer
}

func newStagedStream(fsys vfs.FS, name string, limit int, slot *bufSlot) *stagedStream {
	s := &stagedStream{fsys: fsys, name: name, limit: limit, slot: slot}
	if limit > 0 {
		// The whole limit at once: growing by appending would copy the
		// records again at every doubling. Pages of the buffer the records
		// do not reach are never touched, so they cost no memory.
		s.mem = slot.take(limit)
	}
	return s
}

// Write appends to memory, or spills everything to the staging file once
// the records outgrow the limit.
func (s *stagedStream) Write(p []byte) (int, error) {
	if s.f == nil {
		if len(s.mem)+len(p) <= s.limit {
			s.mem = append(s.mem, p...)
			s.last = s.mem[len(s.mem)-len(p) : len(s.mem) : len(s.mem)]
			return len(p), nil
		}
		s.last = nil
		f, err := s.fsys.Create(s.name)
		if err != nil {
			return 0, err
		}
		s.f, s.fw = f, bufio.NewWriterSize(f, readBuffer)
		if _, err := s.fw.Write(s.mem); err != nil {
			return 0, err
		}
		s.kept, s.mem = s.mem, nil
	}
	return s.fw.Write(p)
}

// Flush writes out what the staging file's buffer holds.
func (s *stagedStream) Flush() error {
	if s.fw == nil {
		return nil
	}
	return s.fw.Flush()
}

// reader returns a reader of the staged records.
func (s *stagedStream) reader(geoms []delta.Geometry) *stageReader {
	if s.f == nil {
		return newMemStageReader(s.mem, geoms)
	}
	return newStageReader(io.NewSectionReader(s.f, 0, math.MaxInt64), geoms)
}

// close releases the memory or closes and removes the staging file.
func (s *stagedStream) close() {
	if s.f != nil {
		s.f.Close()
		removeIfExists(s.fsys, s.name)
		s.f = nil
	}
	for _, b := range [][]byte{s.mem, s.kept} {
		if b != nil {
			s.slot.give(b)
		}
	}
	s.mem, s.kept, s.last = nil, nil, nil
}

// bufSlot keeps one large buffer between applies, so that an apply reuses
// memory the process has already touched instead of paying for fresh pages
// on every call. Applies of different groups running at once each get a
// buffer; only one is kept.
type bufSlot struct {
	mu sync.Mutex
	b  []byte
}

// take returns an empty buffer with a capacity of at least n.
func (s *bufSlot) take(n int) []byte {
	s.mu.Lock()
	b := s.b
	s.b = nil
	s.mu.Unlock()
	if cap(b) < n {
		b = make([]byte, 0, n)
	}
	return b[:0]
}

// give hands a buffer back for the next take; the larger one is kept.
func (s *bufSlot) give(b []byte) {
	s.mu.Lock()
	if cap(b) > cap(s.b) {
		s.b = b[:0]
	}
	s.mu.Unlock()
}

// drop releases the kept buffer.
func (s *bufSlot) drop() {
	s.mu.Lock()
	s.b = nil
	s.mu.Unlock()
}
