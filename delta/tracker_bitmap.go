package delta

import (
	"math/bits"
	"sync/atomic"
)

// bitmapChunkWords is the number of 64-bit words in one lazily allocated
// chunk of a bitmap: 32 KiB of memory covering 2^18 bits. For a page bitmap
// that is 1 GiB of volume, so an idle terabyte costs only the chunk
// directory (8 KiB) and memory grows with the regions actually written.
const (
	bitmapChunkShift = 12
	bitmapChunkWords = 1 << bitmapChunkShift
)

type bitmapChunk [bitmapChunkWords]atomic.Uint64

// bitmap is a fixed-size bit array safe for concurrent use without locks:
// bits are only ever set (with an atomic OR) and read (with an atomic load),
// and a chunk is installed with a compare-and-swap on first touch, so a
// reader sees either nil (all zero) or a chunk that stays put.
type bitmap struct {
	nbits  int64
	chunks []atomic.Pointer[bitmapChunk]
}

func newBitmap(nbits int64) *bitmap {
	words := (nbits + 63) / 64
	return &bitmap{
		nbits:  nbits,
		chunks: make([]atomic.Pointer[bitmapChunk], (words+bitmapChunkWords-1)/bitmapChunkWords),
	}
}

// allocChunk installs chunk ci if it is still missing and returns the
// installed one. Two goroutines racing on the first touch both allocate;
// the loser's chunk is garbage.
func (b *bitmap) allocChunk(ci int64) *bitmapChunk {
	c := new(bitmapChunk)
	if b.chunks[ci].CompareAndSwap(nil, c) {
		return c
	}
	return b.chunks[ci].Load()
}

// orWord sets the bits of mask in word wi. The load first keeps an already
// dirty word's cache line shared between cores instead of bouncing it.
func (b *bitmap) orWord(wi int64, mask uint64) {
	ci := wi >> bitmapChunkShift
	c := b.chunks[ci].Load()
	if c == nil {
		c = b.allocChunk(ci)
	}
	w := &c[wi&(bitmapChunkWords-1)]
	if w.Load()&mask != mask {
		w.Or(mask)
	}
}

// trySet sets bit i if its chunk is allocated and reports whether it was;
// small enough to inline into Mark's fast path.
func (b *bitmap) trySet(i int64) bool {
	c := b.chunks[i>>(6+bitmapChunkShift)].Load()
	if c == nil {
		return false
	}
	w, m := &c[(i>>6)&(bitmapChunkWords-1)], uint64(1)<<(uint(i)&63)
	if w.Load()&m == 0 {
		w.Or(m)
	}
	return true
}

// word returns word wi; an unallocated chunk reads as zero.
func (b *bitmap) word(wi int64) uint64 {
	c := b.chunks[wi>>bitmapChunkShift].Load()
	if c == nil {
		return 0
	}
	return c[wi&(bitmapChunkWords-1)].Load()
}

// setRange sets bits lo..hi-1, which must lie inside the bitmap.
func (b *bitmap) setRange(lo, hi int64) {
	for lo < hi {
		wi := lo >> 6
		end := min(hi, (wi+1)<<6)
		b.orWord(wi, rangeMask(uint(lo&63), uint(end-wi<<6)))
		lo = end
	}
}

// anyInRange reports whether any of bits lo..hi-1 is set.
func (b *bitmap) anyInRange(lo, hi int64) bool {
	for lo < hi {
		wi := lo >> 6
		end := min(hi, (wi+1)<<6)
		if b.word(wi)&rangeMask(uint(lo&63), uint(end-wi<<6)) != 0 {
			return true
		}
		lo = end
	}
	return false
}

// has reports whether bit i is set.
func (b *bitmap) has(i int64) bool { return b.word(i>>6)&(1<<(uint(i)&63)) != 0 }

// extract copies bits lo..lo+n-1 into dst as a PageMask (bit 0 = bit lo)
// and returns it with the number of bits set.
func (b *bitmap) extract(lo int64, n int, dst PageMask) (PageMask, int) {
	words := (n + 63) / 64
	if cap(dst) < words {
		dst = make(PageMask, words)
	}
	dst = dst[:words]
	clear(dst)
	count := 0
	for i := 0; i < n; {
		bit := lo + int64(i)
		wi := bit >> 6
		sh := uint(bit & 63)
		take := min(64-int(sh), n-i)
		v := (b.word(wi) >> sh) & rangeMask(0, uint(take))
		if v != 0 {
			dst[i>>6] |= v << (uint(i) & 63)
			if (i&63)+take > 64 {
				dst[(i>>6)+1] |= v >> (64 - uint(i&63))
			}
			count += bits.OnesCount64(v)
		}
		i += take
	}
	return dst, count
}

// forEachWord calls fn for every nonzero word, in ascending order.
func (b *bitmap) forEachWord(fn func(wi int64, w uint64)) {
	for ci := range b.chunks {
		c := b.chunks[ci].Load()
		if c == nil {
			continue
		}
		base := int64(ci) << bitmapChunkShift
		for i := range c {
			if w := c[i].Load(); w != 0 {
				fn(base+int64(i), w)
			}
		}
	}
}

// count returns the number of bits set.
func (b *bitmap) count() int64 {
	var n int64
	b.forEachWord(func(_ int64, w uint64) { n += int64(bits.OnesCount64(w)) })
	return n
}

// orFrom sets every bit that is set in o, which has the same size.
func (b *bitmap) orFrom(o *bitmap) {
	o.forEachWord(func(wi int64, w uint64) { b.orWord(wi, w) })
}

// rangeMask returns a word with bits lo..hi-1 set, 0 ≤ lo ≤ hi ≤ 64.
func rangeMask(lo, hi uint) uint64 {
	if hi-lo == 64 {
		return ^uint64(0)
	}
	return ((1 << (hi - lo)) - 1) << lo
}
