package delta

import (
	"fmt"
	"io"
)

// ScanSource is a Source over the volumes of a group whose changes Scan
// found: it sends each volume's changed pages and reads their content
// from the live volume when the Encoder asks.
//
// The volumes are read as they are at encode time, so for the recovery
// point to be one instant nothing may write them between the scans and
// the end of the encode (stop the writer, or scan and encode a snapshot).
// A page written after its scan is still never lost: its content differs
// from the hash the scan kept, so the next scan reports it again.
type ScanSource struct {
	vols    []io.ReaderAt
	results []*ScanResult
	geoms   []Geometry
}

var _ Source = (*ScanSource)(nil)

// NewScanSource returns a Source over vols, where results[i] is the scan
// of vols[i]. Lengths that differ, or a nil volume or result, give an
// error wrapping ErrMismatch.
func NewScanSource(vols []io.ReaderAt, results []*ScanResult) (*ScanSource, error) {
	if len(vols) != len(results) {
		return nil, fmt.Errorf("%w: %d volumes with %d scan results", ErrMismatch, len(vols), len(results))
	}
	s := &ScanSource{
		vols:    append([]io.ReaderAt(nil), vols...),
		results: append([]*ScanResult(nil), results...),
		geoms:   make([]Geometry, len(vols)),
	}
	for i, r := range results {
		if vols[i] == nil || r == nil {
			return nil, fmt.Errorf("%w: volume %d has no reader or no scan result", ErrMismatch, i)
		}
		s.geoms[i] = r.Geometry
	}
	return s, nil
}

// Geometries returns the geometry of every volume, in group order.
func (s *ScanSource) Geometries() []Geometry { return s.geoms }

// Blocks returns the blocks of volume vol that hold changed pages.
func (s *ScanSource) Blocks(vol int) *Set { return s.results[vol].Blocks }

// Pages returns the changed pages of block, nil when all of them changed.
func (s *ScanSource) Pages(vol int, block int64, dst PageMask) PageMask {
	return s.results[vol].Pages(block, dst)
}

// ReadBlock reads block of volume vol from the live volume. p must be the
// block's length; a block out of range or a p of another length gives an
// error wrapping ErrMismatch, as does a volume now shorter than scanned.
func (s *ScanSource) ReadBlock(vol int, block int64, p []byte) error {
	if vol < 0 || vol >= len(s.geoms) {
		return fmt.Errorf("%w: volume %d of %d", ErrMismatch, vol, len(s.geoms))
	}
	g := s.geoms[vol]
	if block < 0 || block >= g.Blocks() {
		return fmt.Errorf("%w: block %d of volume %d outside its %d blocks", ErrMismatch, block, vol, g.Blocks())
	}
	off, n := g.BlockBounds(block)
	if len(p) != n {
		return fmt.Errorf("%w: read of %d bytes for block %d of %d bytes", ErrMismatch, len(p), block, n)
	}
	return hashReadAt(s.vols[vol], p, off)
}
