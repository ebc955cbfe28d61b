package delta

import (
	"encoding/binary"
	"errors"
	"flag"
	"hash/fnv"
	"io"
	"math/rand/v2"
	"sync"
	"testing"
)

var hashSeedFlag = flag.Uint64("delta.hashseed", 0, "seed for the randomized hashing and scanning tests (0: one fixed seed per test)")

// hashTestRand returns a seeded generator and logs its seed, so a failing
// run can be repeated with -delta.hashseed.
func hashTestRand(t testing.TB) *rand.Rand {
	t.Helper()
	seed := *hashSeedFlag
	if seed == 0 {
		h := fnv.New64a()
		_, _ = h.Write([]byte(t.Name()))
		seed = h.Sum64()
	}
	t.Logf("seed %d (repeat with -delta.hashseed=%d)", seed, seed)
	return rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
}

// hashTestVolume returns size bytes of mixed content: random pages, zero
// pages and pages of a repeated text, as a real disk image holds.
func hashTestVolume(rng *rand.Rand, size int64) []byte {
	b := make([]byte, size)
	for off := int64(0); off < size; off += PageSize {
		p := b[off:min(off+PageSize, size)]
		switch rng.IntN(4) {
		case 0: // zero page
		case 1:
			for i := range p {
				p[i] = "replica semantics for block volumes "[i%36]
			}
		default:
			hashFillRandom(rng, p)
		}
	}
	return b
}

// hashFillRandom fills p with random bytes, eight a call.
func hashFillRandom(rng *rand.Rand, p []byte) {
	for len(p) >= 8 {
		binary.LittleEndian.PutUint64(p, rng.Uint64())
		p = p[8:]
	}
	for i := range p {
		p[i] = byte(rng.Uint32())
	}
}

// hashMemVolume is an io.ReaderAt over a byte slice that can fail.
type hashMemVolume struct {
	data   []byte
	failAt int64 // a read touching this offset fails with errHashTestRead; -1 never
	mu     sync.Mutex
	reads  [][2]int64 // offset and length of every read
}

var errHashTestRead = errors.New("test: injected read error")

func newHashMemVolume(data []byte) *hashMemVolume { return &hashMemVolume{data: data, failAt: -1} }

func (v *hashMemVolume) ReadAt(p []byte, off int64) (int, error) {
	v.mu.Lock()
	v.reads = append(v.reads, [2]int64{off, int64(len(p))})
	v.mu.Unlock()
	if v.failAt >= off && v.failAt < off+int64(len(p)) {
		return 0, errHashTestRead
	}
	if off >= int64(len(v.data)) {
		return 0, io.EOF
	}
	n := copy(p, v.data[off:])
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

// readPages returns the pages that any read touched.
func (v *hashMemVolume) readPages() map[int64]bool {
	v.mu.Lock()
	defer v.mu.Unlock()
	m := map[int64]bool{}
	for _, r := range v.reads {
		for p := r[0] / PageSize; p*PageSize < r[0]+r[1]; p++ {
			m[p] = true
		}
	}
	return m
}

// hashSetOf returns a set over n members holding the given ones.
func hashSetOf(n int64, members ...int64) *Set {
	s := NewSet(n)
	for _, m := range members {
		s.Add(m)
	}
	return s
}

// hashMembers lists the members of s, for readable test failures.
func hashMembers(s *Set) []int64 {
	out := []int64{}
	for i := range s.All() {
		out = append(out, i)
	}
	return out
}
