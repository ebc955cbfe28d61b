package checkpoint

import (
	"errors"
	"io"
	"math"
	"sync"

	"github.com/blockrep/blockrep/checkpoint/vfs"
	"github.com/blockrep/blockrep/delta"
)

// stagedStream holds a verified stream's decoded records: in memory while
// they fit the store's stage memory, which spares the apply a write and a
// read-back of every byte; what does not fit goes on in the staging file.
// The records in memory stay there when the rest spills: copying them out
// to the file too would write them twice.
//
// Memory only pays when it is reused: touching a fresh page costs more
// than the staging file's write of it, which the spill goroutine does off
// the verifying goroutine. So the memory in use grows from apply to apply
// of a store, to twice what the last one touched (at least stageFirst),
// up to the stage memory: a process that applies once — a command-line
// tool, a fresh child — touches little, and a replica host that applies
// cycle after cycle soon stages all it can in memory it already touched.
type stagedStream struct {
	fsys  vfs.FS
	name  string
	limit int
	slot  *bufSlot
	warm  int      // bytes of mem an earlier apply touched
	mem   []byte   // the first records, up to limit bytes
	last  []byte   // what the last Write appended to mem; nil once spilled
	f     vfs.File // non-nil once spilled: the records after mem
	fw    *spillWriter
}

func newStagedStream(fsys vfs.FS, name string, limit int, slot *bufSlot) *stagedStream {
	s := &stagedStream{fsys: fsys, name: name, limit: limit, slot: slot}
	if limit > 0 {
		// The whole limit at once: growing by appending would copy the
		// records again at every doubling. Pages of the buffer the records
		// do not reach are never touched, so they cost no memory.
		s.mem, s.warm = slot.takeWarm(limit)
		s.limit = min(limit, max(stageFirst, 2*s.warm))
	}
	return s
}

// stageFirst is how much stage memory a store's first apply uses.
const stageFirst = 4 << 20

// Write appends to memory while the records fit, and from the first write
// that does not on to the staging file.
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
		s.f, s.fw = f, newSpillWriter(f)
	}
	return s.fw.Write(p)
}

// Flush writes out what the staging file's buffers hold; the stream takes
// no more writes after it.
func (s *stagedStream) Flush() error {
	if s.fw == nil {
		return nil
	}
	return s.fw.Flush()
}

// spilled reports whether some records went to the staging file.
func (s *stagedStream) spilled() bool { return s.f != nil }

// reader returns a reader of the staged records: those in memory, then
// those in the staging file.
func (s *stagedStream) reader(geoms []delta.Geometry) *stageReader {
	r := newMemStageReader(s.mem, geoms)
	if s.f != nil {
		r.spill(io.NewSectionReader(s.f, 0, math.MaxInt64))
	}
	return r
}

// close releases the memory or closes and removes the staging file.
func (s *stagedStream) close() {
	if s.fw != nil {
		s.fw.Flush()
	}
	if s.f != nil {
		s.f.Close()
		removeIfExists(s.fsys, s.name)
		s.f = nil
	}
	if s.mem != nil {
		s.slot.give(s.mem[:max(len(s.mem), s.warm)])
	}
	s.mem, s.last = nil, nil
}

// spillChunk and spillChunks size the buffers of a spillWriter.
const (
	spillChunk  = 1 << 20
	spillChunks = 4
)

// spillWriter writes to the staging file on a goroutine of its own, so
// that the verifying goroutine, the critical path of an apply's first
// pass, only copies the records into a buffer. Flush ends the goroutine.
type spillWriter struct {
	f    io.Writer
	cur  []byte
	full chan []byte // chunks for the goroutine to write
	free chan []byte // chunks it wrote
	done chan struct{}
	err  error // the first write error; read once done is closed
	shut bool
}

func newSpillWriter(f io.Writer) *spillWriter {
	w := &spillWriter{f: f, full: make(chan []byte, spillChunks), free: make(chan []byte, spillChunks), done: make(chan struct{})}
	w.cur = make([]byte, 0, spillChunk)
	for range spillChunks - 1 {
		w.free <- make([]byte, 0, spillChunk)
	}
	go func() {
		defer close(w.done)
		for c := range w.full {
			if w.err == nil {
				_, w.err = w.f.Write(c)
			}
			w.free <- c[:0]
		}
	}()
	return w
}

// Write buffers p, handing every full chunk to the goroutine. A write
// error shows at Flush.
func (w *spillWriter) Write(p []byte) (int, error) {
	if w.shut {
		return 0, errStagingClosed
	}
	n := len(p)
	for len(p) > 0 {
		k := copy(w.cur[len(w.cur):cap(w.cur)], p)
		w.cur, p = w.cur[:len(w.cur)+k], p[k:]
		if len(w.cur) == cap(w.cur) {
			w.full <- w.cur
			w.cur = <-w.free
		}
	}
	return n, nil
}

// Flush hands the last chunk over, waits for the goroutine to write
// everything and end, and returns the first write error. Later calls
// return the same.
func (w *spillWriter) Flush() error {
	if !w.shut {
		w.shut = true
		if len(w.cur) > 0 {
			w.full <- w.cur
		}
		w.cur = nil
		close(w.full)
	}
	<-w.done
	return w.err
}

var errStagingClosed = errors.New("checkpoint: staging file written after Flush")

// bufSlot keeps one large buffer between applies, so that an apply reuses
// memory the process has already touched instead of paying for fresh pages
// on every call. Applies of different groups running at once each get a
// buffer; only one is kept.
type bufSlot struct {
	mu   sync.Mutex
	b    []byte
	warm int // how many bytes of b an earlier user touched
}

// take returns an empty buffer with a capacity of at least n.
func (s *bufSlot) take(n int) []byte {
	b, _ := s.takeWarm(n)
	return b
}

// takeWarm is take that also says how many bytes at the start of the
// buffer were touched before (0 for a new one).
func (s *bufSlot) takeWarm(n int) ([]byte, int) {
	s.mu.Lock()
	b, warm := s.b, s.warm
	s.b, s.warm = nil, 0
	s.mu.Unlock()
	if cap(b) < n {
		b, warm = make([]byte, 0, n), 0
	}
	return b[:0], warm
}

// give hands a buffer back for the next take, its first len(b) bytes
// touched; the larger one is kept.
func (s *bufSlot) give(b []byte) {
	s.mu.Lock()
	if cap(b) > cap(s.b) {
		s.b, s.warm = b[:0], len(b)
	}
	s.mu.Unlock()
}

// drop releases the kept buffer.
func (s *bufSlot) drop() {
	s.mu.Lock()
	s.b, s.warm = nil, 0
	s.mu.Unlock()
}
