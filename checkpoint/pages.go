package checkpoint

import (
	"math/bits"

	"github.com/blockrep/blockrep/delta"
)

// Page arithmetic for page-granular undo records. A record of block b holds
// the pages of its mask, in page order, concatenated; only the last page of
// a short last block is shorter than delta.PageSize, and it is always the
// last page of any mask that has it, so page p of a mask starts at
// rank(p)·PageSize in the record's data.

// pageSpan returns the byte range [lo, hi) of page p in a block of blen bytes.
func pageSpan(blen, p int) (lo, hi int) {
	lo = p * delta.PageSize
	return lo, min(lo+delta.PageSize, blen)
}

// maskBytes returns the data length of a record with mask m in a block of
// blen bytes.
func maskBytes(m delta.PageMask, blen int) int {
	if m == nil {
		return blen
	}
	pages := (blen + delta.PageSize - 1) / delta.PageSize
	n := 0
	for p := range m.All(pages) {
		lo, hi := pageSpan(blen, p)
		n += hi - lo
	}
	return n
}

// maskRank returns how many pages of m precede page p.
func maskRank(m delta.PageMask, p int) int {
	if m == nil {
		return p
	}
	r := 0
	w := p >> 6
	for i := 0; i < w && i < len(m); i++ {
		r += bits.OnesCount64(m[i])
	}
	if w < len(m) {
		r += bits.OnesCount64(m[w] & (1<<(uint(p)&63) - 1))
	}
	return r
}

// normMask returns nil for a mask covering every page of the block and a
// private copy otherwise, trimmed of bits past the block's pages.
func normMask(m delta.PageMask, pages int) delta.PageMask {
	if m == nil || m.Full(pages) {
		return nil
	}
	c := make(delta.PageMask, (pages+63)/64)
	for p := range m.All(pages) {
		c[p>>6] |= 1 << (uint(p) & 63)
	}
	return c
}

// unionMask returns a ∪ b, normalised.
func unionMask(a, b delta.PageMask, pages int) delta.PageMask {
	if a == nil || b == nil {
		return nil
	}
	c := make(delta.PageMask, (pages+63)/64)
	for i := range c {
		if i < len(a) {
			c[i] |= a[i]
		}
		if i < len(b) {
			c[i] |= b[i]
		}
	}
	return normMask(c, pages)
}

// maskRuns yields the runs of consecutive pages of m in a block of pages
// pages as (first page, count); a nil mask is one run of every page.
func maskRuns(m delta.PageMask, pages int) func(yield func(int, int) bool) {
	return func(yield func(int, int) bool) {
		start, n := -1, 0
		for p := range m.All(pages) {
			if start >= 0 && p == start+n {
				n++
				continue
			}
			if start >= 0 && !yield(start, n) {
				return
			}
			start, n = p, 1
		}
		if start >= 0 {
			yield(start, n)
		}
	}
}

// runBytes returns the byte range [lo, hi) within the block of the run of
// count pages from page first, in a block of blen bytes.
func runBytes(blen, first, count int) (lo, hi int) {
	lo, _ = pageSpan(blen, first)
	_, hi = pageSpan(blen, first+count-1)
	return lo, hi
}
