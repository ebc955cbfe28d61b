package delta

import (
	"fmt"
	"math/bits"
)

// Sizes that bound every geometry.
const (
	// PageSize is the unit of sub-block tracking: a 4 KiB write marks one page.
	PageSize = 4096
	// MinBlockSize is the smallest block size a Geometry accepts.
	MinBlockSize = 4 << 10
	// MaxBlockSize is the largest block size a Geometry accepts.
	MaxBlockSize = 4 << 20
	// DefaultBlockSize is the block size used when a caller passes 0.
	DefaultBlockSize = 64 << 10
	// MaxPagesPerBlock is the number of pages in a block of MaxBlockSize.
	MaxPagesPerBlock = MaxBlockSize / PageSize
	// MaxVolumeSize bounds a volume's size (1 PiB): it keeps every block
	// index and bitmap size well inside an int64 and a sane allocation.
	MaxVolumeSize = 1 << 50
)

// Geometry maps a volume of Size bytes onto blocks of BlockSize bytes.
// The last block may be short when Size is not a multiple of BlockSize.
type Geometry struct {
	Size      int64 // volume size in bytes, 0 ≤ Size ≤ MaxVolumeSize
	BlockSize int   // power of two, MinBlockSize ≤ BlockSize ≤ MaxBlockSize
}

// NewGeometry returns the geometry of a volume of size bytes with the given
// block size (0 means DefaultBlockSize), or an error wrapping ErrGeometry.
func NewGeometry(size int64, blockSize int) (Geometry, error) {
	if blockSize == 0 {
		blockSize = DefaultBlockSize
	}
	g := Geometry{Size: size, BlockSize: blockSize}
	return g, g.Validate()
}

// Validate reports whether g is usable, with an error wrapping ErrGeometry.
func (g Geometry) Validate() error {
	if g.BlockSize < MinBlockSize || g.BlockSize > MaxBlockSize || bits.OnesCount(uint(g.BlockSize)) != 1 {
		return fmt.Errorf("%w: block size %d is not a power of two between %d and %d", ErrGeometry, g.BlockSize, MinBlockSize, MaxBlockSize)
	}
	if g.Size < 0 || g.Size > MaxVolumeSize {
		return fmt.Errorf("%w: volume size %d outside 0..%d", ErrGeometry, g.Size, int64(MaxVolumeSize))
	}
	return nil
}

// Blocks returns the number of blocks, counting a short last block.
func (g Geometry) Blocks() int64 {
	return (g.Size + int64(g.BlockSize) - 1) / int64(g.BlockSize)
}

// PagesPerBlock returns how many PageSize pages a full block holds.
func (g Geometry) PagesPerBlock() int { return g.BlockSize / PageSize }

// BlockOf returns the index of the block holding byte off.
func (g Geometry) BlockOf(off int64) int64 { return off / int64(g.BlockSize) }

// BlockBounds returns the byte offset and length of block i; the length is
// shorter than BlockSize only for the last block. i must be in range.
func (g Geometry) BlockBounds(i int64) (off int64, n int) {
	off = i * int64(g.BlockSize)
	n = g.BlockSize
	if rest := g.Size - off; rest < int64(n) {
		n = int(max(rest, 0))
	}
	return off, n
}

// BlockPages returns how many pages block i holds (a short last block may
// end in a partial page, which counts as a page).
func (g Geometry) BlockPages(i int64) int {
	_, n := g.BlockBounds(i)
	return (n + PageSize - 1) / PageSize
}

// Span returns the first and last block touched by the byte range
// [off, off+n). It reports ok=false for an empty range or one that does not
// lie inside the volume.
func (g Geometry) Span(off, n int64) (first, last int64, ok bool) {
	if n <= 0 || off < 0 || off > g.Size || n > g.Size-off {
		return 0, 0, false
	}
	return off / int64(g.BlockSize), (off + n - 1) / int64(g.BlockSize), true
}
