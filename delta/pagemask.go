package delta

import (
	"iter"
	"math/bits"
)

// PageMask says which PageSize pages of one block are meant: bit p of word
// p/64 is page p. A nil mask means the whole block. Masks are short — one
// word for blocks up to 256 KiB, sixteen for 4 MiB blocks.
type PageMask []uint64

// FullPageMask returns a mask with the first pages pages set.
func FullPageMask(pages int) PageMask {
	m := make(PageMask, (pages+63)/64)
	for p := range pages {
		m[p>>6] |= 1 << (uint(p) & 63)
	}
	return m
}

// Has reports whether page p is in the mask; a nil mask has every page.
func (m PageMask) Has(p int) bool {
	if m == nil {
		return true
	}
	if p < 0 || p>>6 >= len(m) {
		return false
	}
	return m[p>>6]&(1<<(uint(p)&63)) != 0
}

// Count returns how many pages the mask holds, for a block of pages pages.
func (m PageMask) Count(pages int) int {
	if m == nil {
		return pages
	}
	c := 0
	for p := range m.All(pages) {
		_ = p
		c++
	}
	return c
}

// Full reports whether the mask covers every one of pages pages.
func (m PageMask) Full(pages int) bool { return m.Count(pages) == pages }

// All yields the pages of a block of pages pages that the mask holds, in order.
func (m PageMask) All(pages int) iter.Seq[int] {
	return func(yield func(int) bool) {
		if m == nil {
			for p := range pages {
				if !yield(p) {
					return
				}
			}
			return
		}
		for wi, w := range m {
			for w != 0 {
				p := wi*64 + bits.TrailingZeros64(w)
				if p >= pages || !yield(p) {
					return
				}
				w &= w - 1
			}
		}
	}
}
