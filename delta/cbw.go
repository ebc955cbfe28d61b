package delta

import (
	"errors"
	"fmt"
	"os"
	"sync"
)

// CaptureStats says what copy-before-write saved for one Frozen.
type CaptureStats struct {
	SavedBlocks  int64 // blocks saved before a write overwrote them
	SavedBytes   int64 // their bytes, in memory and spilled
	SpilledBytes int64 // bytes of those that went to the spill file
}

// cbwStore keeps the blocks copy-before-write saved for one Frozen: in
// memory up to a limit, then appended to a temporary spill file. It never
// drops a block; a block it cannot keep fails the write that needed it.
type cbwStore struct {
	limit int64
	dir   string

	mu      sync.Mutex
	closed  bool
	entries map[cbwKey]cbwEntry
	mem     int64
	file    *os.File
	fileEnd int64
	stat    CaptureStats
}

type cbwKey struct {
	vol   int
	block int64
}

// cbwEntry is a saved block: in memory (buf) or at off in the spill file.
type cbwEntry struct {
	buf []byte
	off int64
	n   int
}

func newCBWStore(limit int64, dir string) *cbwStore {
	return &cbwStore{limit: limit, dir: dir, entries: make(map[cbwKey]cbwEntry)}
}

// put keeps data, which the store now owns, as the content of block.
func (s *cbwStore) put(vol int, block int64, data []byte) error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return ErrFrozenDone
	}
	n := int64(len(data))
	if s.mem+n <= s.limit {
		s.entries[cbwKey{vol, block}] = cbwEntry{buf: data, n: len(data)}
		s.mem += n
		s.stat.SavedBlocks++
		s.stat.SavedBytes += n
		s.mu.Unlock()
		return nil
	}
	if s.file == nil {
		f, err := os.CreateTemp(s.dir, "blockrep-cbw-*")
		if err != nil {
			s.mu.Unlock()
			return fmt.Errorf("delta: copy-before-write spill file: %w", err)
		}
		s.file = f
	}
	f, off := s.file, s.fileEnd
	s.fileEnd += n
	s.mu.Unlock()

	// Written outside the lock: the range is reserved for this block, and a
	// failed write leaves a hole that no entry points to.
	if _, err := f.WriteAt(data, off); err != nil {
		return fmt.Errorf("delta: copy-before-write spill: %w", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return ErrFrozenDone
	}
	s.entries[cbwKey{vol, block}] = cbwEntry{off: off, n: len(data)}
	s.stat.SavedBlocks++
	s.stat.SavedBytes += n
	s.stat.SpilledBytes += n
	return nil
}

// get copies the saved content of block into p.
func (s *cbwStore) get(vol int, block int64, p []byte) error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return ErrFrozenDone
	}
	e, ok := s.entries[cbwKey{vol, block}]
	f := s.file
	s.mu.Unlock()
	if !ok || e.n != len(p) {
		return fmt.Errorf("delta: copy-before-write store has no block %d of volume %d", block, vol)
	}
	if e.buf != nil {
		copy(p, e.buf)
		return nil
	}
	if err := readFullAt(f, p, e.off); err != nil {
		if s.isClosed() {
			return ErrFrozenDone
		}
		return fmt.Errorf("delta: copy-before-write spill read: %w", err)
	}
	return nil
}

func (s *cbwStore) isClosed() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closed
}

func (s *cbwStore) stats() CaptureStats {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stat
}

// close frees the saved blocks and removes the spill file.
func (s *cbwStore) close() error {
	s.mu.Lock()
	s.closed = true
	s.entries = nil
	s.mem = 0
	f := s.file
	s.file = nil
	s.mu.Unlock()
	if f == nil {
		return nil
	}
	return errors.Join(f.Close(), os.Remove(f.Name()))
}
