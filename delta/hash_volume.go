package delta

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/bits"
	"sync"

	"golang.org/x/sync/errgroup"
)

// HashVolume reads the volume r of geometry g in large sequential chunks
// with a few workers (see HashOption) and returns the hash of every block.
// Memory in use is the list (32 bytes a block) plus one chunk a worker.
// A volume shorter than g.Size gives an error wrapping both ErrMismatch
// and io.ErrUnexpectedEOF; a read error is returned wrapped.
func HashVolume(ctx context.Context, r io.ReaderAt, g Geometry, opts ...HashOption) (*HashList, error) {
	o, err := newHashOptions(opts)
	if err != nil {
		return nil, err
	}
	list, err := NewHashList(g)
	if err != nil {
		return nil, err
	}
	per := int64(max(o.chunk/g.BlockSize, 1)) // blocks a read
	var next int64
	err = hashWork(ctx, r, o, max(o.chunk, g.BlockSize), g.Size,
		func() (int64, int, bool) {
			if next >= list.Len() {
				return 0, 0, false
			}
			first := next
			next = min(first+per, list.Len())
			off, _ := g.BlockBounds(first)
			end, n := g.BlockBounds(next - 1)
			return off, int(end - off + int64(n)), true
		},
		func() func(int64, []byte) error {
			return func(off int64, data []byte) error {
				list.hashBlocks(off, data)
				return nil
			}
		})
	if err != nil {
		return nil, err
	}
	return list, nil
}

// UpdateHashes rehashes the blocks of list that are in blocks, reading
// them from r, as after an apply changed them. blocks must be a set over
// list.Len() blocks, else the error wraps ErrMismatch. Consecutive blocks
// are read together, up to a chunk at a time. On error the hashes of the
// given blocks may be partly updated; the call may be repeated.
func UpdateHashes(ctx context.Context, list *HashList, r io.ReaderAt, blocks *Set, opts ...HashOption) error {
	o, err := newHashOptions(opts)
	if err != nil {
		return err
	}
	if blocks.Len() != list.Len() {
		return fmt.Errorf("%w: set over %d blocks for a hash list of %d", ErrMismatch, blocks.Len(), list.Len())
	}
	g := list.g
	per := int64(max(o.chunk/g.BlockSize, 1))
	var cursor int64
	total := blocks.Count() * int64(g.BlockSize)
	if last := g.Blocks() - 1; blocks.Contains(last) {
		_, n := g.BlockBounds(last)
		total -= int64(g.BlockSize - n)
	}
	// Even a failed update may have written some of the hashes.
	defer list.touched(blocks)
	return hashWork(ctx, r, o, max(o.chunk, g.BlockSize), total,
		func() (int64, int, bool) {
			first := hashNextMember(blocks, cursor)
			if first < 0 {
				return 0, 0, false
			}
			last := first
			for last+1 < first+per && blocks.Contains(last+1) {
				last++
			}
			cursor = last + 1
			off, _ := g.BlockBounds(first)
			end, n := g.BlockBounds(last)
			return off, int(end - off + int64(n)), true
		},
		func() func(int64, []byte) error {
			return func(off int64, data []byte) error {
				list.hashBlocks(off, data)
				return nil
			}
		})
}

// hashBlocks sets the hashes of the whole blocks that data, read at the
// block-aligned offset off, holds. Workers call it on disjoint blocks.
func (l *HashList) hashBlocks(off int64, data []byte) {
	bs := l.g.BlockSize
	for i := l.g.BlockOf(off); len(data) > 0; i++ {
		n := min(bs, len(data))
		l.hashes[i] = HashBlock(data[:n])
		data = data[n:]
	}
}

// hashNextMember returns the smallest member of s at or after i, or -1.
func hashNextMember(s *Set, i int64) int64 {
	if i < 0 {
		i = 0
	}
	for wi := i >> 6; wi < int64(len(s.words)); wi++ {
		w := s.words[wi]
		if wi == i>>6 {
			w &= ^uint64(0) << (uint(i) & 63)
		}
		if w != 0 {
			return wi<<6 + int64(bits.TrailingZeros64(w))
		}
	}
	return -1
}

// hashWork runs up to o.workers goroutines that each take the next byte
// range from next (called under a lock), read it from r into a buffer of
// bufSize bytes kept for the worker's life, and pass it to the worker's
// own function made by newWorker (so it may keep per-worker state). The
// ranges add up to total bytes, which o.progress learns. It returns the
// first error, after every worker has stopped.
func hashWork(ctx context.Context, r io.ReaderAt, o hashOptions, bufSize int, total int64,
	next func() (off int64, n int, ok bool), newWorker func() func(off int64, data []byte) error) error {
	eg, ctx := errgroup.WithContext(ctx)
	eg.SetLimit(o.workers)
	var mu sync.Mutex
	take := func() (int64, int, bool) {
		mu.Lock()
		defer mu.Unlock()
		return next()
	}
	var pmu sync.Mutex
	var done int64
	report := func(n int) {
		if o.progress == nil {
			return
		}
		pmu.Lock()
		defer pmu.Unlock()
		done += int64(n)
		o.progress(done, total)
	}
	for range o.workers {
		eg.Go(func() error {
			var buf []byte
			fn := newWorker()
			for {
				if err := ctx.Err(); err != nil {
					return err
				}
				off, n, ok := take()
				if !ok {
					return nil
				}
				if buf == nil {
					buf = make([]byte, bufSize)
				}
				if err := hashReadAt(r, buf[:n], off); err != nil {
					return err
				}
				if err := fn(off, buf[:n]); err != nil {
					return err
				}
				report(n)
			}
		})
	}
	return eg.Wait()
}

// hashReadAt fills p from r at off. A ReaderAt may report io.EOF along
// with a full read; a short read means the volume is smaller than its
// geometry says.
func hashReadAt(r io.ReaderAt, p []byte, off int64) error {
	n, err := r.ReadAt(p, off)
	if n == len(p) {
		return nil
	}
	if err == nil || errors.Is(err, io.EOF) {
		return fmt.Errorf("%w: volume ends before offset %d: %w", ErrMismatch, off+int64(len(p)), io.ErrUnexpectedEOF)
	}
	return fmt.Errorf("delta: read volume at offset %d: %w", off, err)
}
