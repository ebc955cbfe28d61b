package delta

import (
	"encoding/binary"
	"fmt"

	"github.com/zeebo/blake3"
)

// HashList holds the BLAKE3 hash of every block of one volume, as a
// checkpoint store keeps it for a live image and a resync compares it.
// A new list holds zero Hashes ("not hashed yet"). A HashList is not safe
// for concurrent mutation; Get and Root may run concurrently while
// nothing calls Set.
type HashList struct {
	g      Geometry
	hashes []Hash
}

// NewHashList returns a list of g.Blocks() zero hashes, or an error
// wrapping ErrGeometry.
func NewHashList(g Geometry) (*HashList, error) {
	if err := g.Validate(); err != nil {
		return nil, err
	}
	return &HashList{g: g, hashes: make([]Hash, g.Blocks())}, nil
}

// Geometry returns the geometry of the volume the list describes.
func (l *HashList) Geometry() Geometry { return l.g }

// Len returns the number of blocks, Geometry().Blocks().
func (l *HashList) Len() int64 { return int64(len(l.hashes)) }

// Get returns the hash of block i. An index out of range panics.
func (l *HashList) Get(i int64) Hash { return l.hashes[i] }

// Set records h as the hash of block i. An index out of range panics.
func (l *HashList) Set(i int64, h Hash) { l.hashes[i] = h }

// Clone returns an independent copy.
func (l *HashList) Clone() *HashList {
	return &HashList{g: l.g, hashes: append([]Hash(nil), l.hashes...)}
}

// Equal reports whether both lists have the same geometry and hashes.
func (l *HashList) Equal(o *HashList) bool {
	if l.g != o.g {
		return false
	}
	for i := range l.hashes {
		if l.hashes[i] != o.hashes[i] {
			return false
		}
	}
	return true
}

// Diff returns the blocks whose hashes differ between l and o, which must
// have the same geometry; otherwise the error wraps ErrMismatch.
func (l *HashList) Diff(o *HashList) (*Set, error) {
	if l.g != o.g {
		return nil, fmt.Errorf("%w: hash lists of geometry %+v and %+v", ErrMismatch, l.g, o.g)
	}
	s := NewSet(l.Len())
	for i := range l.hashes {
		if l.hashes[i] != o.hashes[i] {
			s.Add(int64(i))
		}
	}
	return s, nil
}

// Root returns the root of the HashTree with DefaultFanout over the list:
// a hash of the whole volume that changes when any block hash, the size or
// the block size changes. It costs one pass over the hashes (a 1 TiB
// volume of 64 KiB blocks holds 512 MiB of them), so callers that need it
// often keep it.
func (l *HashList) Root() Hash {
	return treeRoot(l.g, DefaultFanout, treeTop(l.hashes, DefaultFanout))
}

// GroupRoot returns one hash for a group of volumes: the BLAKE3, in its
// own key-derivation domain, of the number of volumes and each volume's
// Root in group order. Each Root binds its volume's size, so moving bytes
// across a volume boundary or reordering volumes changes the result.
func GroupRoot(lists []*HashList) Hash {
	h := blake3.NewDeriveKey(groupRootContext)
	var n [8]byte
	binary.LittleEndian.PutUint64(n[:], uint64(len(lists)))
	_, _ = h.Write(n[:])
	for _, l := range lists {
		r := l.Root()
		_, _ = h.Write(r[:])
	}
	var out Hash
	h.Sum(out[:0])
	return out
}
