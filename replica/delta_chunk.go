package replica

import "github.com/blockrep/blockrep/delta"

// minStreamChunk is the smallest frame a delta is cut into: the encoder
// hands its output over in writes of this size, so a frame of it goes out
// as soon as the encoder has written it, without a copy.
const minStreamChunk = 64 << 10

// streamFrames is how many frames a small delta is cut into at least.
const streamFrames = 16

// streamChunk returns the frame size for sending the delta of src: at most
// limit (the host's ChunkSize), and a sixteenth of the delta's raw size
// when that is less, but not under minStreamChunk.
//
// A frame is the unit the replica receives: it starts verifying and
// staging a stream, and saving the blocks it overwrites, with the first
// frame. A delta smaller than one frame would reach it only when the
// primary had encoded all of it, so the replica's work could not overlap
// the primary's at all: with 1 MiB frames, a cycle of 163 written pages
// (500 KiB of stream) left the replica idle for the whole encode and the
// primary idle for the whole verification. A large delta keeps large
// frames, whose per-frame cost is then negligible.
func streamChunk(src delta.Source, limit int) int {
	if limit <= minStreamChunk {
		return limit
	}
	var raw int64
	if f, ok := src.(*delta.Frozen); ok {
		raw = f.Dirty().Bytes // the written pages, not their whole blocks
	} else {
		for i, g := range src.Geometries() {
			if s := src.Blocks(i); s != nil {
				raw += s.Count() * int64(g.BlockSize)
			}
		}
	}
	return int(min(max(raw/streamFrames, minStreamChunk), int64(limit)))
}
