package delta

import (
	"encoding/binary"
	"fmt"
	"iter"
	"math/bits"
)

// Set is a set of block indexes 0..Len()-1 kept as a bitmap: one bit a
// block, so a 1 TiB volume at 64 KiB blocks costs 2 MiB. The zero value is
// an empty set over no blocks. A Set is not safe for concurrent mutation.
type Set struct {
	n     int64
	words []uint64
}

// NewSet returns an empty set over n blocks. n must be within
// 0..MaxVolumeSize/MinBlockSize; NewSet panics otherwise, as the caller
// derived it from a validated Geometry.
func NewSet(n int64) *Set {
	if n < 0 || n > MaxVolumeSize/MinBlockSize {
		panic(fmt.Sprintf("delta: NewSet(%d): size out of range", n))
	}
	return &Set{n: n, words: make([]uint64, (n+63)/64)}
}

// Len returns the size of the universe: valid indexes are 0..Len()-1.
func (s *Set) Len() int64 { return s.n }

// Add adds block i. Indexes outside 0..Len()-1 panic.
func (s *Set) Add(i int64) {
	s.check(i)
	s.words[i>>6] |= 1 << (uint(i) & 63)
}

// Remove removes block i.
func (s *Set) Remove(i int64) {
	s.check(i)
	s.words[i>>6] &^= 1 << (uint(i) & 63)
}

// Contains reports whether block i is in the set; out-of-range i is not.
func (s *Set) Contains(i int64) bool {
	if i < 0 || i >= s.n {
		return false
	}
	return s.words[i>>6]&(1<<(uint(i)&63)) != 0
}

// AddRange adds blocks start..start+count-1.
func (s *Set) AddRange(start, count int64) {
	if count <= 0 {
		return
	}
	s.check(start)
	s.check(start + count - 1)
	end := start + count
	for i := start; i < end; {
		w := i >> 6
		lo := uint(i) & 63
		hi := uint64(64)
		if (w+1)*64 > end {
			hi = uint64(end - w*64)
		}
		mask := ^uint64(0) << lo
		if hi < 64 {
			mask &= (1 << hi) - 1
		}
		s.words[w] |= mask
		i = (w + 1) * 64
	}
}

// Count returns the number of blocks in the set.
func (s *Set) Count() int64 {
	var c int
	for _, w := range s.words {
		c += bits.OnesCount64(w)
	}
	return int64(c)
}

// Empty reports whether the set has no block.
func (s *Set) Empty() bool {
	for _, w := range s.words {
		if w != 0 {
			return false
		}
	}
	return true
}

// Clear removes every block.
func (s *Set) Clear() { clear(s.words) }

// Clone returns an independent copy.
func (s *Set) Clone() *Set {
	return &Set{n: s.n, words: append([]uint64(nil), s.words...)}
}

// Equal reports whether s and o have the same universe and members.
func (s *Set) Equal(o *Set) bool {
	if s.n != o.n {
		return false
	}
	for i, w := range s.words {
		if o.words[i] != w {
			return false
		}
	}
	return true
}

// Union adds every member of o to s. Both sets must have the same Len; a
// mismatch returns an error wrapping ErrMismatch and leaves s unchanged.
func (s *Set) Union(o *Set) error {
	if s.n != o.n {
		return fmt.Errorf("%w: union of sets over %d and %d blocks", ErrMismatch, s.n, o.n)
	}
	for i, w := range o.words {
		s.words[i] |= w
	}
	return nil
}

// Subtract removes every member of o from s. Both sets must have the same Len.
func (s *Set) Subtract(o *Set) error {
	if s.n != o.n {
		return fmt.Errorf("%w: difference of sets over %d and %d blocks", ErrMismatch, s.n, o.n)
	}
	for i, w := range o.words {
		s.words[i] &^= w
	}
	return nil
}

// All yields the members in ascending order. The set must not be changed
// during the iteration.
func (s *Set) All() iter.Seq[int64] {
	return func(yield func(int64) bool) {
		for wi, w := range s.words {
			for w != 0 {
				b := bits.TrailingZeros64(w)
				if !yield(int64(wi)*64 + int64(b)) {
					return
				}
				w &= w - 1
			}
		}
	}
}

// Runs yields maximal runs of consecutive members as (start, count), in
// ascending order.
func (s *Set) Runs() iter.Seq2[int64, int64] {
	return func(yield func(int64, int64) bool) {
		var start, count int64 = -1, 0
		for i := range s.All() {
			if start >= 0 && i == start+count {
				count++
				continue
			}
			if start >= 0 && !yield(start, count) {
				return
			}
			start, count = i, 1
		}
		if start >= 0 {
			yield(start, count)
		}
	}
}

func (s *Set) check(i int64) {
	if i < 0 || i >= s.n {
		panic(fmt.Sprintf("delta: block %d outside set of %d blocks", i, s.n))
	}
}

// setMagic starts the binary form of a Set.
const setMagic = 0x53 // 'S'

// AppendBinary appends the run-length encoding of s to b: a magic byte, the
// universe size, the run count, then each run as (gap since the end of the
// previous run, length), all unsigned varints.
func (s *Set) AppendBinary(b []byte) ([]byte, error) {
	var runs int64
	for range s.Runs() {
		runs++
	}
	b = append(b, setMagic)
	b = binary.AppendUvarint(b, uint64(s.n))
	b = binary.AppendUvarint(b, uint64(runs))
	var end int64
	for start, count := range s.Runs() {
		b = binary.AppendUvarint(b, uint64(start-end))
		b = binary.AppendUvarint(b, uint64(count))
		end = start + count
	}
	return b, nil
}

// MarshalBinary returns the run-length encoding described at AppendBinary.
func (s *Set) MarshalBinary() ([]byte, error) { return s.AppendBinary(nil) }

// UnmarshalSet decodes a Set written by AppendBinary from the front of b and
// returns it with the number of bytes consumed. A universe larger than
// maxLen blocks gives an error wrapping ErrLimit before anything is
// allocated (as UnmarshalHashList does for its limit); malformed input,
// including a universe past any volume's (MaxVolumeSize/MinBlockSize
// blocks), gives a *CorruptError.
func UnmarshalSet(b []byte, maxLen int64) (*Set, int, error) {
	p := 0
	if len(b) < 1 || b[0] != setMagic {
		return nil, 0, corrupt(0, "block set: bad magic")
	}
	p++
	n, k := binary.Uvarint(b[p:])
	if k <= 0 {
		return nil, 0, corrupt(int64(p), "block set: bad length")
	}
	p += k
	if n > MaxVolumeSize/MinBlockSize {
		return nil, 0, corrupt(int64(p), fmt.Sprintf("block set: %d blocks exceeds the format's %d", n, int64(MaxVolumeSize/MinBlockSize)))
	}
	if maxLen < 0 || n > uint64(maxLen) {
		return nil, 0, fmt.Errorf("%w: block set of %d blocks exceeds limit %d", ErrLimit, n, maxLen)
	}
	runs, k := binary.Uvarint(b[p:])
	if k <= 0 {
		return nil, 0, corrupt(int64(p), "block set: bad run count")
	}
	p += k
	// Each run needs at least two bytes, so a run count past that is a lie.
	if runs > uint64(len(b)-p)/2 || runs > n {
		return nil, 0, corrupt(int64(p), "block set: run count exceeds input")
	}
	s := NewSet(int64(n))
	var end uint64
	for range runs {
		gap, k := binary.Uvarint(b[p:])
		if k <= 0 {
			return nil, 0, corrupt(int64(p), "block set: bad gap")
		}
		p += k
		count, k := binary.Uvarint(b[p:])
		if k <= 0 {
			return nil, 0, corrupt(int64(p), "block set: bad run length")
		}
		p += k
		if gap > n || count == 0 || count > n || end+gap > n-count {
			return nil, 0, corrupt(int64(p), "block set: run outside the set")
		}
		if end > 0 && gap == 0 {
			return nil, 0, corrupt(int64(p), "block set: runs not maximal")
		}
		start := end + gap
		s.AddRange(int64(start), int64(count))
		end = start + count
	}
	return s, p, nil
}
