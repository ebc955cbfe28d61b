package delta

// Source is what an Encoder reads: for each volume of a group, the blocks
// to send, which pages of each, and their content as of one instant.
//
// A *Frozen from Tracker.Freeze is a Source whose reads return the image as
// of the freeze even while the host keeps writing; NewSource builds one over
// volumes that do not change during the encode (initial replication, resync).
type Source interface {
	// Geometries returns the geometry of every volume, in group order.
	// The result must not be modified.
	Geometries() []Geometry

	// Blocks returns the blocks of volume vol to send. The set must not be
	// modified and stays valid until the Source is released.
	Blocks(vol int) *Set

	// Pages returns which pages of block (which must be in Blocks(vol)) to
	// send: nil for the whole block. It may reuse dst's storage.
	Pages(vol int, block int64, dst PageMask) PageMask

	// ReadBlock fills p with the whole content of block as of the Source's
	// instant; len(p) is the block's length from Geometry.BlockBounds.
	// It is safe to call from several goroutines for different blocks.
	ReadBlock(vol int, block int64, p []byte) error
}
