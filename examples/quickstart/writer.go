package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"

	"golang.org/x/time/rate"

	"github.com/blockrep/blockrep/delta"
)

// writer plays the host's applications: a goroutine that writes whole
// blocks at random places — a quarter of them zeros, the rest random bytes —
// through the relationship's tracked volumes, at a steady rate, and records
// each write in the model.
type writer struct {
	m         *model
	rng       *rand.Rand    // the goroutine's choices
	src       *rand.ChaCha8 // the goroutine's random bytes
	side      *rand.Rand    // writeBlocks' choices and bytes, used while the goroutine runs
	sideSrc   *rand.ChaCha8
	blockSize int
	sizes     []int64
	perSec    int

	cancel context.CancelFunc
	done   chan error
}

func newWriter(m *model, seed uint64, blockSize int, sizes []int64, perSec int) *writer {
	src, sideSrc := rand.NewChaCha8(seedBytes(seed, 1000)), rand.NewChaCha8(seedBytes(seed, 1001))
	return &writer{
		m:         m,
		rng:       rand.New(src),
		src:       src,
		side:      rand.New(sideSrc),
		sideSrc:   sideSrc,
		blockSize: blockSize,
		sizes:     sizes,
		perSec:    perSec,
	}
}

// start runs the writer on vols until stop. It is not running when called.
func (w *writer) start(ctx context.Context, vols []io.WriterAt) {
	ctx, w.cancel = context.WithCancel(ctx)
	w.done = make(chan error, 1)
	go func() { w.done <- w.run(ctx, vols) }()
}

// stop ends the writer and returns the error that ended it early, if one
// did. A write in progress finishes first. It is a no-op when not running.
func (w *writer) stop() error {
	if w.cancel == nil {
		return nil
	}
	w.cancel()
	err := <-w.done
	w.cancel, w.done = nil, nil
	return err
}

func (w *writer) run(ctx context.Context, vols []io.WriterAt) error {
	lim := rate.NewLimiter(rate.Limit(w.perSec), 1)
	buf := make([]byte, w.blockSize)
	for {
		if err := lim.Wait(ctx); err != nil {
			return nil // stopped
		}
		vol, block := w.pick(w.rng)
		fill(w.rng, w.src, buf)
		w.m.lock()
		_, err := vols[vol].WriteAt(buf, block*int64(w.blockSize))
		if err == nil {
			w.m.record(write{vol: vol, block: block, hash: delta.HashBlock(buf)})
		}
		w.m.unlock()
		if err != nil {
			if errors.Is(err, context.Canceled) {
				return nil
			}
			return fmt.Errorf("writer: write to volume %d block %d: %w", vol, block, err)
		}
	}
}

// writeBlocks writes n blocks at once to vols (a failover's or a test
// failover's volumes, which the library does not track) and applies them to
// im, so im stays the expected content of vols.
func (w *writer) writeBlocks(vols []io.WriterAt, im image, n int) error {
	buf := make([]byte, w.blockSize)
	for range n {
		vol, block := w.pick(w.side)
		fill(w.side, w.sideSrc, buf)
		if _, err := vols[vol].WriteAt(buf, block*int64(w.blockSize)); err != nil {
			return fmt.Errorf("write to volume %d block %d: %w", vol, block, err)
		}
		im[vol].Set(block, delta.HashBlock(buf))
	}
	return nil
}

// pick draws a volume, weighted by size, and one of its whole blocks.
func (w *writer) pick(rng *rand.Rand) (int, int64) {
	var total int64
	for _, s := range w.sizes {
		total += s / int64(w.blockSize)
	}
	n := rng.Int64N(total)
	for i, s := range w.sizes {
		b := s / int64(w.blockSize)
		if n < b {
			return i, n
		}
		n -= b
	}
	panic("unreachable: n < total")
}

// fill makes a block's content: zeros one time in four, else random bytes
// (src is rng's source).
func fill(rng *rand.Rand, src *rand.ChaCha8, p []byte) {
	if rng.IntN(4) == 0 {
		clear(p)
		return
	}
	_, _ = src.Read(p) // never fails
}
