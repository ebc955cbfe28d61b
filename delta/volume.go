package delta

import (
	"fmt"
	"io"
)

// TrackedVolume wraps one volume of a Tracker's group so that every write
// through it is tracked and preserved for an outstanding Frozen: WriteAt
// enters the tracker's write gate, saves frozen blocks it is about to
// overwrite (copy-before-write), marks the range and then writes. Reads
// pass through. Any block front-end (a hypervisor's NBD server, a test) can
// write through it. It is safe for concurrent use on disjoint ranges.
type TrackedVolume struct {
	t   *Tracker
	vol int
	v   interface {
		io.ReaderAt
		io.WriterAt
	}
}

// Volume returns volume vol of the group wrapped for tracking, and attaches
// v as the volume the tracker reads for captures. v's size must be at least
// the geometry's; writes beyond the geometry's size are refused.
func (t *Tracker) Volume(vol int, v interface {
	io.ReaderAt
	io.WriterAt
}) (*TrackedVolume, error) {
	if err := t.Attach(vol, v); err != nil {
		return nil, err
	}
	return &TrackedVolume{t: t, vol: vol, v: v}, nil
}

// ReadAt reads the live volume.
func (v *TrackedVolume) ReadAt(p []byte, off int64) (int, error) { return v.v.ReadAt(p, off) }

// WriteAt writes p at off after copy-before-write and Mark; if either
// fails, nothing is written and the error says why (an error wrapping
// ErrGeometry for a range outside the volume).
func (v *TrackedVolume) WriteAt(p []byte, off int64) (int, error) {
	if err := v.t.BeginWrite(v.vol, off, int64(len(p))); err != nil {
		return 0, fmt.Errorf("delta: tracked write: %w", err)
	}
	defer v.t.EndWrite()
	return v.v.WriteAt(p, off)
}

// Size returns the volume's size from its geometry.
func (v *TrackedVolume) Size() int64 { return v.t.geoms[v.vol].Size }

// Index returns the volume's position in the group.
func (v *TrackedVolume) Index() int { return v.vol }
