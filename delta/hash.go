package delta

import (
	"bytes"
	"encoding/hex"
	"fmt"
	"math/bits"
	"sync"

	"github.com/zeebo/blake3"
)

// HashSize is the length of a Hash in bytes.
const HashSize = 32

// Hash is a BLAKE3-256 digest: of a block's content (HashBlock), of a node of
// a HashTree, or of a whole volume or group (HashList.Root, GroupRoot).
type Hash [HashSize]byte

// IsZero reports whether h is the zero Hash, which no BLAKE3 input produces
// in practice; it stands for "no hash".
func (h Hash) IsZero() bool { return h == Hash{} }

// String returns h as 64 lowercase hex digits.
func (h Hash) String() string { return hex.EncodeToString(h[:]) }

// ParseHash parses 64 hex digits as written by String.
func ParseHash(s string) (Hash, error) {
	var h Hash
	if len(s) != 2*HashSize {
		// The input is not quoted: it may be anything, of any length.
		return Hash{}, fmt.Errorf("delta: hash of %d characters: want %d hex digits", len(s), 2*HashSize)
	}
	if _, err := hex.Decode(h[:], []byte(s)); err != nil {
		return Hash{}, fmt.Errorf("delta: hash %q: %w", s, err)
	}
	return h, nil
}

// MarshalText implements encoding.TextMarshaler (JSON uses it).
func (h Hash) MarshalText() ([]byte, error) { return []byte(h.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler.
func (h *Hash) UnmarshalText(b []byte) error {
	p, err := ParseHash(string(b))
	if err != nil {
		return err
	}
	*h = p
	return nil
}

// HashBlock returns the BLAKE3-256 digest of p. An all-zero p whose length
// is a power of two between PageSize and MaxBlockSize — the blocks of a
// sparse or trimmed volume — is answered from a digest computed once per
// length, which gives the same value as hashing it.
func HashBlock(p []byte) Hash {
	if k, ok := hashZeroSlot(len(p)); ok && hashAllZero(p) {
		return hashZeroBlock(k)
	}
	return blake3.Sum256(p)
}

// hashZeroSizes is how many power-of-two lengths lie in PageSize..MaxBlockSize.
const hashZeroSizes = 11

// hashZeroDigests caches the digest of PageSize<<k zero bytes, k = 0..10.
var hashZeroDigests [hashZeroSizes]struct {
	once sync.Once
	h    Hash
}

// hashZeroSlot returns the cache slot for an input of n bytes.
func hashZeroSlot(n int) (int, bool) {
	if n < PageSize || n > MaxBlockSize || n&(n-1) != 0 {
		return 0, false
	}
	return bits.TrailingZeros(uint(n / PageSize)), true
}

func hashZeroBlock(k int) Hash {
	z := &hashZeroDigests[k]
	z.once.Do(func() { z.h = blake3.Sum256(make([]byte, PageSize<<k)) })
	return z.h
}

// hashZeroPage is PageSize zero bytes to compare against.
var hashZeroPage [PageSize]byte

// hashAllZero reports whether every byte of p is zero. It compares a page
// at a time against a zero page, so a block with data fails on its first
// words and costs next to nothing.
func hashAllZero(p []byte) bool {
	for len(p) >= PageSize {
		if !bytes.Equal(p[:PageSize], hashZeroPage[:]) {
			return false
		}
		p = p[PageSize:]
	}
	return bytes.Equal(p, hashZeroPage[:len(p)])
}
