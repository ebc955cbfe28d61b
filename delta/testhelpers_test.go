package delta

import (
	"fmt"
	"io"
	"sync"
)

// memVolume is an in-memory volume for tests: a byte slice behind a lock,
// so concurrent readers and writers are race-free.
type memVolume struct {
	mu   sync.RWMutex
	data []byte
}

func newMemVolume(size int64) *memVolume { return &memVolume{data: make([]byte, size)} }

func (v *memVolume) ReadAt(p []byte, off int64) (int, error) {
	v.mu.RLock()
	defer v.mu.RUnlock()
	if off < 0 || off > int64(len(v.data)) {
		return 0, fmt.Errorf("memVolume: read at %d outside %d bytes", off, len(v.data))
	}
	n := copy(p, v.data[off:])
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

func (v *memVolume) WriteAt(p []byte, off int64) (int, error) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if off < 0 || off+int64(len(p)) > int64(len(v.data)) {
		return 0, fmt.Errorf("memVolume: write [%d, +%d) outside %d bytes", off, len(p), len(v.data))
	}
	return copy(v.data[off:], p), nil
}

func (v *memVolume) Size() int64 { return int64(len(v.data)) }

// snapshot returns a copy of the whole content.
func (v *memVolume) snapshot() []byte {
	v.mu.RLock()
	defer v.mu.RUnlock()
	return append([]byte(nil), v.data...)
}
