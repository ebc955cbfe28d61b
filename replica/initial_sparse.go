package replica

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/blockrep/blockrep/delta"
)

// SparseVolume is an optional interface of a Volume that can say where its
// data lies without reading its holes. Initial replication (and the export
// to media) reads only the ranges it reports, so the first copy of a
// mostly empty volume costs what its data costs, not its size. An
// *os.File is used as one on Linux (lseek SEEK_DATA/SEEK_HOLE) without
// implementing it.
type SparseVolume interface {
	// NextData returns the first range [start, end) at or after off that
	// may hold non-zero bytes: every byte of [off, start) reads as zero.
	// It returns io.EOF when every byte from off on reads as zero, and an
	// error wrapping errors.ErrUnsupported when it cannot tell (the caller
	// then reads the volume from off on). A range may hold zeros, may
	// reach past the volume's size, and need not be block-aligned.
	NextData(off int64) (start, end int64, err error)
}

// sparseOf returns how to find v's data ranges: v itself when it
// implements SparseVolume, else a platform's view of an *os.File.
func sparseOf(v Volume) (SparseVolume, bool) {
	if sv, ok := v.(SparseVolume); ok {
		return sv, true
	}
	return osSparse(v)
}

// markNonZeroSparse marks every block of volume vol (of v.Size bytes in
// bs-byte blocks) that holds a non-zero byte, reading only the blocks sv
// says may hold data; where sv cannot tell, it reads the rest. buf is the
// read buffer, at least one block long.
func markNonZeroSparse(ctx context.Context, tr *delta.Tracker, vol int, v VolumeConfig, bs int64, buf []byte, sv SparseVolume) error {
	next := int64(0) // first byte not scanned yet, block-aligned
	for next < v.Size {
		start, end, err := sv.NextData(next)
		switch {
		case errors.Is(err, io.EOF):
			return nil
		case errors.Is(err, errors.ErrUnsupported):
			start, end = next, v.Size
		case err != nil:
			return fmt.Errorf("replica: find data of volume %s at %d: %w", v.Name, next, err)
		case start < next || end <= start:
			return fmt.Errorf("replica: find data of volume %s at %d: bad range [%d, %d)", v.Name, next, start, end)
		}
		if start >= v.Size {
			return nil
		}
		from := start / bs * bs
		to := min(v.Size, (end+bs-1)/bs*bs)
		if err := markNonZeroRange(ctx, tr, vol, v, bs, buf, from, to); err != nil {
			return err
		}
		next = to
	}
	return nil
}

// initialZeroGap is the longest stretch of zero blocks between two
// non-zero blocks of one data range that an initial replication marks with
// them: the encoder then sees the blocks around it as one run of
// consecutive blocks, compresses them together (the zeros cost a few bytes
// of the frame) and the replica skips the zero blocks again. Longer
// stretches, and holes, stay out of the freeze.
const initialZeroGap = 1 << 20

// markNonZeroRange marks the non-zero blocks of [from, to) of volume vol,
// from block-aligned, reading it into buf a whole number of blocks at a
// time, and the stretches of at most initialZeroGap zero bytes between
// them.
func markNonZeroRange(ctx context.Context, tr *delta.Tracker, vol int, v VolumeConfig, bs int64, buf []byte, from, to int64) error {
	step := int64(len(buf)) / bs * bs
	gap := int64(-1) // start of the zero blocks after the last non-zero one; -1: none seen yet
	for off := from; off < to; off += step {
		if err := ctx.Err(); err != nil {
			return err
		}
		n := min(step, to-off)
		p := buf[:n]
		if _, err := v.Volume.ReadAt(p, off); err != nil {
			return fmt.Errorf("replica: scan volume %s at %d: %w", v.Name, off, err)
		}
		for b := int64(0); b < n; b += bs {
			blk := p[b:min(b+bs, n)]
			if isZeroBlock(blk) {
				continue
			}
			at, size := off+b, int64(len(blk))
			if gap >= 0 && at > gap && at-gap <= initialZeroGap {
				at, size = gap, size+at-gap
			}
			if err := tr.Mark(vol, at, size); err != nil {
				return fmt.Errorf("replica: mark volume %s: %w", v.Name, err)
			}
			gap = off + b + int64(len(blk))
		}
	}
	return nil
}

var zeroes [64 << 10]byte

// isZeroBlock reports whether p is all zero bytes, comparing with a zero
// buffer (vectorised) rather than byte by byte.
func isZeroBlock(p []byte) bool {
	for len(p) > 0 {
		n := min(len(p), len(zeroes))
		if !bytes.Equal(p[:n], zeroes[:n]) {
			return false
		}
		p = p[n:]
	}
	return true
}
