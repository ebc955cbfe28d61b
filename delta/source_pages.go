package delta

// pageSource is the optional capability of a Source that can read some
// pages of a block alone. A Frozen has it: a block of a 4 KiB write is one
// page to read instead of a whole block (sixteen times the bytes at the
// default 64 KiB), which is most of what a capture of small writes reads.
type pageSource interface {
	// readSelected fills the pages of mask in p — the whole block's
	// buffer, each page at its place — with their content as of the
	// Source's instant, leaving the other bytes of p as they were. mask
	// is not nil. It fails as ReadBlock does, and counts as the block's
	// read for ReadBlock's rules.
	readSelected(vol int, block int64, mask PageMask, p []byte) error
}

// readSource fills blk with what an encoder sends of block b: the pages of
// mask, at their places, when src can read pages alone, else (and always
// for a nil mask) the whole block.
func readSource(src Source, vol int, b int64, mask PageMask, blk []byte) error {
	if ps, ok := src.(pageSource); ok && mask != nil {
		return ps.readSelected(vol, b, mask, blk)
	}
	return src.ReadBlock(vol, b, blk)
}
