package delta

import (
	"sync"
	"sync/atomic"
)

// Block buffers are recycled between Encoders and Applies: first touching
// fresh memory costs far more than reusing it. Buffers are pooled by exact
// capacity, so a recycled buffer is never larger than asked for and the
// memory bounds hold; the number of capacities pooled is bounded, so odd
// sizes from hostile input only get plain allocations.
var (
	bufPools     sync.Map // capacity → *sync.Pool of *[]byte
	bufPoolCount atomic.Int32
)

const maxBufPools = 64

func bufPool(n int, create bool) *sync.Pool {
	if p, ok := bufPools.Load(n); ok {
		return p.(*sync.Pool)
	}
	if !create || bufPoolCount.Load() >= maxBufPools {
		return nil
	}
	p, loaded := bufPools.LoadOrStore(n, new(sync.Pool))
	if !loaded {
		bufPoolCount.Add(1)
	}
	return p.(*sync.Pool)
}

// getBuf returns an empty buffer of capacity exactly n.
func getBuf(n int) []byte {
	if p := bufPool(n, true); p != nil {
		if b, ok := p.Get().(*[]byte); ok {
			return (*b)[:0]
		}
	}
	return make([]byte, 0, n)
}

// putBuf recycles b; b must not be used afterwards.
func putBuf(b []byte) {
	if cap(b) == 0 {
		return
	}
	if p := bufPool(cap(b), false); p != nil {
		b = b[:0]
		p.Put(&b)
	}
}
