package delta

import (
	"bufio"
	"errors"
	"fmt"
	"io"

	"github.com/zeebo/blake3"
)

// streamReader reads a stream front to back, hashing what it reads and
// turning a short read into a *CorruptError.
type streamReader struct {
	r   *bufio.Reader
	h   *blake3.Hasher
	off int64
	max int64 // 0: no limit
}

func newStreamReader(r io.Reader, max int64) *streamReader {
	return &streamReader{r: bufio.NewReaderSize(r, 64<<10), h: blake3.New(), max: max}
}

// full fills p, hashing it when hash is set; what names the part for the
// error of a truncated stream.
func (s *streamReader) full(p []byte, hash bool, what string) error {
	if s.max > 0 && int64(len(p)) > s.max-s.off {
		return fmt.Errorf("%w: stream longer than %d bytes", ErrLimit, s.max)
	}
	n, err := io.ReadFull(s.r, p)
	if hash {
		s.h.Write(p[:n])
	}
	s.off += int64(n)
	switch {
	case err == nil:
		return nil
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return corrupt(s.off, "truncated in "+what)
	default:
		return fmt.Errorf("delta: read stream at offset %d: %w", s.off, err)
	}
}

// end checks that nothing follows the trailer.
func (s *streamReader) end() error {
	var b [1]byte
	n, err := io.ReadFull(s.r, b[:])
	switch {
	case n > 0:
		return corrupt(s.off, "bytes after the trailer")
	case errors.Is(err, io.EOF):
		return nil
	default:
		return fmt.Errorf("delta: read stream at offset %d: %w", s.off, err)
	}
}
