package delta

import (
	"errors"
	"fmt"
	"io"
)

// staticSource is a Source over volumes that do not change while it is
// read: an initial replication, a resync, a test.
type staticSource struct {
	vols   []io.ReaderAt
	geoms  []Geometry
	blocks []*Set
}

// NewSource returns a Source over vols, whose content must not change
// while an Encoder reads it. geoms gives each volume's geometry; blocks
// gives the blocks to send of each volume, and a nil slice or a nil entry
// means every block. The Source sends whole blocks: Pages returns nil.
// Mismatched lengths, an invalid geometry or a set over another number of
// blocks give an error wrapping ErrMismatch or ErrGeometry.
func NewSource(vols []io.ReaderAt, geoms []Geometry, blocks []*Set) (Source, error) {
	if len(vols) != len(geoms) || blocks != nil && len(blocks) != len(vols) {
		return nil, fmt.Errorf("%w: %d volumes, %d geometries, %d block sets", ErrMismatch, len(vols), len(geoms), len(blocks))
	}
	s := &staticSource{vols: vols, geoms: append([]Geometry(nil), geoms...), blocks: make([]*Set, len(vols))}
	for i, g := range geoms {
		if vols[i] == nil {
			return nil, fmt.Errorf("%w: volume %d is nil", ErrMismatch, i)
		}
		if err := g.Validate(); err != nil {
			return nil, fmt.Errorf("volume %d: %w", i, err)
		}
		var set *Set
		if blocks != nil {
			set = blocks[i]
		}
		if set == nil {
			set = NewSet(g.Blocks())
			set.AddRange(0, g.Blocks())
		} else if set.Len() != g.Blocks() {
			return nil, fmt.Errorf("%w: volume %d: set over %d blocks, volume has %d", ErrMismatch, i, set.Len(), g.Blocks())
		}
		s.blocks[i] = set
	}
	return s, nil
}

func (s *staticSource) Geometries() []Geometry                      { return s.geoms }
func (s *staticSource) Blocks(vol int) *Set                         { return s.blocks[vol] }
func (s *staticSource) Pages(vol int, b int64, d PageMask) PageMask { return nil }

func (s *staticSource) ReadBlock(vol int, block int64, p []byte) error {
	off, n := s.geoms[vol].BlockBounds(block)
	if len(p) != n {
		return fmt.Errorf("%w: read of %d bytes for a %d-byte block", ErrMismatch, len(p), n)
	}
	got, err := s.vols[vol].ReadAt(p, off)
	if got == n {
		return nil
	}
	if err == nil || errors.Is(err, io.EOF) {
		err = io.ErrUnexpectedEOF
	}
	return fmt.Errorf("volume %d block %d: %w", vol, block, err)
}
