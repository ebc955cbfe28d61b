package delta

import (
	"errors"
	"fmt"
)

// ErrHashOption is returned by HashVolume, UpdateHashes, Scan and
// NewHashTree when given an option or fan-out outside its documented bounds.
var ErrHashOption = errors.New("delta: invalid hash option")

// Defaults and bounds of the hashing options shared by HashVolume,
// UpdateHashes and Scan.
const (
	// DefaultHashWorkers is how many goroutines read and hash at once when
	// no WithHashWorkers option is given: two keep a disk busy and hash at
	// close to twice one core's speed without taking a host's every core.
	DefaultHashWorkers = 2
	// MaxHashWorkers bounds WithHashWorkers.
	MaxHashWorkers = 256
	// DefaultHashChunk is the size of one sequential read (1 MiB).
	DefaultHashChunk = 1 << 20
	// MinHashChunk and MaxHashChunk bound WithHashChunk. Chunks are whole
	// multiples of MinHashChunk (64 pages), so that two workers never touch
	// the same word of a page bitmap.
	MinHashChunk = 64 * PageSize
	MaxHashChunk = 64 << 20
)

// HashOption configures HashVolume, UpdateHashes and Scan.
type HashOption func(*hashOptions) error

type hashOptions struct {
	workers  int
	chunk    int
	progress func(done, total int64)
}

// WithHashWorkers sets how many goroutines read and hash in parallel,
// 1..MaxHashWorkers (default DefaultHashWorkers). Memory in use is about
// workers × chunk size.
func WithHashWorkers(n int) HashOption {
	return func(o *hashOptions) error {
		if n < 1 || n > MaxHashWorkers {
			return fmt.Errorf("%w: %d hash workers outside 1..%d", ErrHashOption, n, MaxHashWorkers)
		}
		o.workers = n
		return nil
	}
}

// WithHashChunk sets the size of one read in bytes: a multiple of
// MinHashChunk (256 KiB) up to MaxHashChunk (default DefaultHashChunk).
// Where a block is larger than the chunk, a read covers one whole block.
func WithHashChunk(n int) HashOption {
	return func(o *hashOptions) error {
		if n < MinHashChunk || n > MaxHashChunk || n%MinHashChunk != 0 {
			return fmt.Errorf("%w: hash chunk %d is not a multiple of %d up to %d", ErrHashOption, n, MinHashChunk, MaxHashChunk)
		}
		o.chunk = n
		return nil
	}
}

// WithHashProgress has f called after each chunk with the bytes read and
// hashed so far and the bytes the call will read in all. Calls come from
// the workers one at a time, with done increasing, the last with done ==
// total; f must return quickly. A nil f is allowed and means none.
func WithHashProgress(f func(done, total int64)) HashOption {
	return func(o *hashOptions) error {
		o.progress = f
		return nil
	}
}

func newHashOptions(opts []HashOption) (hashOptions, error) {
	o := hashOptions{workers: DefaultHashWorkers, chunk: DefaultHashChunk}
	for _, opt := range opts {
		if err := opt(&o); err != nil {
			return hashOptions{}, err
		}
	}
	return o, nil
}
