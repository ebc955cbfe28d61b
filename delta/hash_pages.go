package delta

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"hash/crc32"
	"sync"

	"github.com/zeebo/blake3"
)

// PageHashSize is the length of a PageHash in bytes.
const PageHashSize = 16

// PageHash is the BLAKE3 digest of one PageSize page, truncated to 16
// bytes. A scanner keeps one per page of a volume between cycles, so the
// size matters: 16 bytes is 4 MiB per GiB of volume (32 would double it),
// while the odds that a changed page keeps its hash stay 2^-128 — far
// below those of an undetected disk error. The truncation is not meant to
// resist an attacker who can choose page contents to collide; against
// that the block hashes (full BLAKE3-256) of a resync remain.
type PageHash [PageHashSize]byte

// String returns h as 32 lowercase hex digits.
func (h PageHash) String() string { return hex.EncodeToString(h[:]) }

// HashPage returns the PageHash of p, a page or the short last page of a
// volume. An all-zero full page is answered from a digest computed once.
func HashPage(p []byte) PageHash {
	if len(p) == PageSize && bytes.Equal(p, hashZeroPage[:]) {
		return hashZeroPageDigest()
	}
	s := blake3.Sum256(p)
	return PageHash(s[:PageHashSize])
}

var hashZeroPageDigest = sync.OnceValue(func() PageHash {
	s := blake3.Sum256(hashZeroPage[:])
	return PageHash(s[:PageHashSize])
})

// pageHasher is HashPage reusing one BLAKE3 state, which spares the
// zeroing of a fresh 8 KiB state for every page; one per worker.
type pageHasher struct {
	h    *blake3.Hasher
	zero PageHash
	out  [HashSize]byte
}

func newPageHasher() *pageHasher {
	return &pageHasher{h: blake3.New(), zero: hashZeroPageDigest()}
}

func (ph *pageHasher) sum(p []byte) PageHash {
	if len(p) == PageSize && bytes.Equal(p, hashZeroPage[:]) {
		return ph.zero
	}
	ph.h.Reset()
	_, _ = ph.h.Write(p)
	ph.h.Sum(ph.out[:0])
	return PageHash(ph.out[:PageHashSize])
}

// PageHashes holds the PageHash of every page of one volume: what a
// scan found, to be compared with the next scan. The last page of a
// volume whose size is not a multiple of PageSize is hashed over its
// actual bytes.
type PageHashes struct {
	g      Geometry
	hashes []PageHash
}

// Geometry returns the geometry of the volume the hashes describe.
func (h *PageHashes) Geometry() Geometry { return h.g }

// Len returns the number of pages, counting a short last page.
func (h *PageHashes) Len() int64 { return int64(len(h.hashes)) }

// Get returns the hash of page p. An index out of range panics.
func (h *PageHashes) Get(p int64) PageHash { return h.hashes[p] }

// Equal reports whether both have the same geometry and hashes.
func (h *PageHashes) Equal(o *PageHashes) bool {
	if h.g != o.g || len(h.hashes) != len(o.hashes) {
		return false
	}
	for i := range h.hashes {
		if h.hashes[i] != o.hashes[i] {
			return false
		}
	}
	return true
}

// hashPageCount returns the number of pages of g, a short last one included.
func hashPageCount(g Geometry) int64 { return (g.Size + PageSize - 1) / PageSize }

// Binary form of PageHashes, all integers little-endian:
//
//	magic "BRPH" | version 1 | size u64 | block size u32 | pages u64 |
//	pages × 16-byte hash | CRC-32C u32 of everything before it
const (
	pageHashesMagic   = "BRPH"
	pageHashesVersion = 1
	pageHashesHeader  = 4 + 1 + 8 + 4 + 8
)

// AppendBinary appends the binary form of h to b, to be kept in a state
// directory between cycles; a CRC-32C catches a torn or damaged file.
func (h *PageHashes) AppendBinary(b []byte) ([]byte, error) {
	start := len(b)
	b = append(b, pageHashesMagic...)
	b = append(b, pageHashesVersion)
	b = binary.LittleEndian.AppendUint64(b, uint64(h.g.Size))
	b = binary.LittleEndian.AppendUint32(b, uint32(h.g.BlockSize))
	b = binary.LittleEndian.AppendUint64(b, uint64(len(h.hashes)))
	for i := range h.hashes {
		b = append(b, h.hashes[i][:]...)
	}
	return binary.LittleEndian.AppendUint32(b, crc32.Checksum(b[start:], hashCastagnoli)), nil
}

// MarshalBinary returns the form described at AppendBinary.
func (h *PageHashes) MarshalBinary() ([]byte, error) {
	return h.AppendBinary(make([]byte, 0, pageHashesHeader+PageHashSize*len(h.hashes)+hashTrailer))
}

// UnmarshalPageHashes decodes PageHashes written by AppendBinary from the
// front of b and returns them with the number of bytes consumed. More than
// maxPages pages give an error wrapping ErrLimit before anything is
// allocated; malformed input, a geometry that does not validate or a
// checksum mismatch gives a *CorruptError.
func UnmarshalPageHashes(b []byte, maxPages int64) (*PageHashes, int, error) {
	if len(b) < pageHashesHeader+hashTrailer {
		return nil, 0, corrupt(int64(len(b)), "page hashes: truncated header")
	}
	if string(b[:4]) != pageHashesMagic {
		return nil, 0, corrupt(0, "page hashes: bad magic")
	}
	if b[4] != pageHashesVersion {
		return nil, 0, corrupt(4, fmt.Sprintf("page hashes: unknown version %d", b[4]))
	}
	size := binary.LittleEndian.Uint64(b[5:])
	bs := binary.LittleEndian.Uint32(b[13:])
	n := binary.LittleEndian.Uint64(b[17:])
	if size > MaxVolumeSize {
		return nil, 0, corrupt(5, fmt.Sprintf("page hashes: volume size %d out of range", size))
	}
	g := Geometry{Size: int64(size), BlockSize: int(bs)}
	if err := g.Validate(); err != nil {
		return nil, 0, corrupt(13, "page hashes: "+err.Error())
	}
	if n != uint64(hashPageCount(g)) {
		return nil, 0, corrupt(17, fmt.Sprintf("page hashes: %d hashes for a volume of %d pages", n, hashPageCount(g)))
	}
	if maxPages < 0 || n > uint64(maxPages) {
		return nil, 0, fmt.Errorf("%w: page hashes of %d pages exceed limit %d", ErrLimit, n, maxPages)
	}
	// n ≤ MaxVolumeSize/PageSize, so the product cannot overflow.
	end := pageHashesHeader + PageHashSize*int64(n)
	if int64(len(b)) < end+hashTrailer {
		return nil, 0, corrupt(int64(len(b)), "page hashes: truncated hashes")
	}
	if err := hashCheckCRC(b[:end+hashTrailer], end); err != nil {
		return nil, 0, err
	}
	h := &PageHashes{g: g, hashes: make([]PageHash, n)}
	for i := range h.hashes {
		copy(h.hashes[i][:], b[pageHashesHeader+PageHashSize*i:])
	}
	return h, int(end + hashTrailer), nil
}
