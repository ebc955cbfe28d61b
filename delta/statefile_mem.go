package delta

import (
	"errors"
	"io"
	"sync"
)

// MemStateFile is a StateFile held in memory, for tests of code that uses
// persistent trackers (reopen a Tracker from the same MemStateFile, or from
// NewMemStateFile(old.Bytes()) to simulate another process). It is not for
// production: its content does not survive the process. Safe for
// concurrent use.
type MemStateFile struct {
	mu     sync.Mutex
	data   []byte
	closed bool
}

// NewMemStateFile returns a MemStateFile holding a copy of content.
func NewMemStateFile(content []byte) *MemStateFile {
	return &MemStateFile{data: append([]byte(nil), content...)}
}

var errMemStateClosed = errors.New("delta: MemStateFile closed")

// ReadAt implements io.ReaderAt.
func (m *MemStateFile) ReadAt(p []byte, off int64) (int, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return 0, errMemStateClosed
	}
	if off < 0 {
		return 0, errors.New("delta: MemStateFile: negative offset")
	}
	if off >= int64(len(m.data)) {
		return 0, io.EOF
	}
	n := copy(p, m.data[off:])
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

// WriteAt implements io.WriterAt, growing the file as needed.
func (m *MemStateFile) WriteAt(p []byte, off int64) (int, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return 0, errMemStateClosed
	}
	if off < 0 || off > MaxVolumeSize {
		return 0, errors.New("delta: MemStateFile: offset out of range")
	}
	if end := off + int64(len(p)); end > int64(len(m.data)) {
		m.data = append(m.data, make([]byte, end-int64(len(m.data)))...)
	}
	return copy(m.data[off:], p), nil
}

// Sync does nothing: memory is as durable as it gets.
func (m *MemStateFile) Sync() error { return nil }

// Truncate sets the size.
func (m *MemStateFile) Truncate(size int64) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if size < 0 || size > MaxVolumeSize {
		return errors.New("delta: MemStateFile: size out of range")
	}
	if size <= int64(len(m.data)) {
		m.data = m.data[:size]
	} else {
		m.data = append(m.data, make([]byte, size-int64(len(m.data)))...)
	}
	return nil
}

// Size returns the size.
func (m *MemStateFile) Size() (int64, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return int64(len(m.data)), nil
}

// Close marks the file closed; the content stays readable with Bytes.
func (m *MemStateFile) Close() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.closed = true
	return nil
}

// Bytes returns a copy of the content.
func (m *MemStateFile) Bytes() []byte {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]byte(nil), m.data...)
}

var _ StateFile = (*MemStateFile)(nil)
