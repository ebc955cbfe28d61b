package replica

import (
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
// bs-byte blocks) that sv says may hold data, without reading them; where
// sv cannot tell, it marks the rest of the volume. The encoder reads each
// marked block once and sends the zero ones as zero records (runs of them
// merged, and zero blocks among data inside data runs), so a scan that
// read the data first to leave its zero blocks out would read the volume
// twice, and, before anything is sent, keep the replica waiting; marking
// the whole ranges also lets the encoder compress neighbouring blocks as
// one run. The read buffer that markNonZero passes is not needed.
func markNonZeroSparse(ctx context.Context, tr *delta.Tracker, vol int, v VolumeConfig, bs int64, _ []byte, sv SparseVolume) error {
	next := int64(0) // first byte not marked yet, block-aligned
	for next < v.Size {
		if err := ctx.Err(); err != nil {
			return err
		}
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
		if err := tr.Mark(vol, from, to-from); err != nil {
			return fmt.Errorf("replica: mark volume %s: %w", v.Name, err)
		}
		next = to
	}
	return nil
}
