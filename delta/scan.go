package delta

import (
	"context"
	"fmt"
	"io"
)

// ScanResult is what Scan found: the changed pages of one volume, the
// blocks that hold them, and the page hashes to keep for the next scan.
type ScanResult struct {
	// Geometry is the geometry of the scanned volume.
	Geometry Geometry
	// Blocks holds the blocks with at least one changed page.
	Blocks *Set
	// ChangedPages holds the changed pages, over all pages of the volume
	// (a short last page counts).
	ChangedPages *Set
	// Hashes are the page hashes this scan computed. Keep them as the next
	// scan's prev only once the changes were delivered: until then the
	// previous hashes still describe what the other side holds.
	Hashes *PageHashes
}

// Pages returns which pages of block changed, as an Encoder's Source
// reports them: nil when every page of the block changed, an empty
// (non-nil) mask for a block outside Blocks or out of range. It may reuse
// dst's storage.
func (r *ScanResult) Pages(block int64, dst PageMask) PageMask {
	if block < 0 || block >= r.Geometry.Blocks() {
		return PageMask{}
	}
	pages := r.Geometry.BlockPages(block)
	first := block * int64(r.Geometry.PagesPerBlock())
	words := (pages + 63) / 64
	if cap(dst) >= words {
		dst = dst[:words]
	} else {
		dst = make(PageMask, words)
	}
	cp := r.ChangedPages.words
	if first&63 == 0 {
		// A block of 64 pages or more starts on a word of the page set.
		copy(dst, cp[first>>6:first>>6+int64(words)])
	} else {
		// A smaller block sits inside one word.
		dst[0] = cp[first>>6] >> (uint(first) & 63)
	}
	if rest := uint(pages) & 63; rest != 0 {
		dst[words-1] &= 1<<rest - 1
	}
	full := true
	for i, w := range dst {
		want := ^uint64(0)
		if i == words-1 && pages&63 != 0 {
			want = 1<<(uint(pages)&63) - 1
		}
		if w != want {
			full = false
			break
		}
	}
	if full {
		return nil
	}
	return dst
}

// Scan finds the pages of volume r (geometry g) that changed since the
// scan that produced prev, for volumes written by programs that no Tracker
// watched. It reads the whole volume in large sequential chunks with a
// few workers (see HashOption), hashes every page and compares each hash
// with prev's; prev == nil means a first scan, where every page counts as
// changed. All-zero pages cost a comparison, not a hash.
//
// prev must describe a volume of the same geometry, else the error wraps
// ErrMismatch. A volume shorter than g.Size gives an error wrapping
// ErrMismatch and io.ErrUnexpectedEOF. Memory in use is the new hashes
// (16 bytes a page), one bit a page and one chunk a worker.
func Scan(ctx context.Context, r io.ReaderAt, g Geometry, prev *PageHashes, opts ...HashOption) (*ScanResult, error) {
	o, err := newHashOptions(opts)
	if err != nil {
		return nil, err
	}
	if err := g.Validate(); err != nil {
		return nil, err
	}
	if prev != nil && prev.g != g {
		return nil, fmt.Errorf("%w: page hashes of geometry %+v for a volume of geometry %+v", ErrMismatch, prev.g, g)
	}
	pages := hashPageCount(g)
	next := &PageHashes{g: g, hashes: make([]PageHash, pages)}
	changed := NewSet(pages)
	var cursor int64
	err = hashWork(ctx, r, o, o.chunk, g.Size,
		func() (int64, int, bool) {
			if cursor >= g.Size {
				return 0, 0, false
			}
			off := cursor
			cursor = min(off+int64(o.chunk), g.Size)
			return off, int(cursor - off), true
		},
		func() func(int64, []byte) error {
			ph := newPageHasher()
			return func(off int64, data []byte) error {
				scanChunk(ph, off/PageSize, data, prev, next, changed)
				return nil
			}
		})
	if err != nil {
		return nil, err
	}
	blocks := NewSet(g.Blocks())
	ppb := int64(g.PagesPerBlock())
	last := int64(-1)
	for p := range changed.All() {
		if b := p / ppb; b != last {
			blocks.Add(b)
			last = b
		}
	}
	return &ScanResult{Geometry: g, Blocks: blocks, ChangedPages: changed, Hashes: next}, nil
}

// scanChunk hashes the pages of data, which starts at page first, into
// next and marks in changed those whose hash differs from prev. Chunks
// start on a multiple of 64 pages, so a chunk owns the words of changed it
// writes and workers need no lock.
func scanChunk(ph *pageHasher, first int64, data []byte, prev, next *PageHashes, changed *Set) {
	var word uint64
	p := first
	for len(data) > 0 {
		n := min(PageSize, len(data))
		h := ph.sum(data[:n])
		next.hashes[p] = h
		if prev == nil || prev.hashes[p] != h {
			word |= 1 << (uint(p) & 63)
		}
		data = data[n:]
		p++
		if p&63 == 0 || len(data) == 0 {
			changed.words[(p-1)>>6] |= word
			word = 0
		}
	}
}
