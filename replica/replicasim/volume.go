package replicasim

import (
	"bytes"
	"fmt"
	"io"
	"sync"
)

// memVolume is one primary volume in memory, safe for concurrent use. Its
// content is the reference the model copies at every freeze.
type memVolume struct {
	mu   sync.RWMutex
	data []byte
}

func newMemVolume(size int64) *memVolume { return &memVolume{data: make([]byte, size)} }

// ReadAt implements io.ReaderAt.
func (v *memVolume) ReadAt(p []byte, off int64) (int, error) {
	v.mu.RLock()
	defer v.mu.RUnlock()
	if off < 0 || off > int64(len(v.data)) {
		return 0, io.EOF
	}
	n := copy(p, v.data[off:])
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

// WriteAt implements io.WriterAt; a write past the end is refused whole.
func (v *memVolume) WriteAt(p []byte, off int64) (int, error) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if off < 0 || off+int64(len(p)) > int64(len(v.data)) {
		return 0, fmt.Errorf("replicasim: write [%d,+%d) outside a volume of %d bytes", off, len(p), len(v.data))
	}
	return copy(v.data[off:], p), nil
}

// snapshot returns a copy of the content.
func (v *memVolume) snapshot() []byte {
	v.mu.RLock()
	defer v.mu.RUnlock()
	return bytes.Clone(v.data)
}
