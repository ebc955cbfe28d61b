package delta

import (
	"encoding/binary"
	"fmt"
	"sync"

	"github.com/zeebo/blake3"
)

// HashList holds the BLAKE3 hash of every block of one volume, as a
// checkpoint store keeps it for a live image and a resync compares it.
// A new list holds zero Hashes ("not hashed yet"). A HashList is not safe
// for concurrent mutation; Get and Root may run concurrently while
// nothing calls Set or UpdateHashes.
type HashList struct {
	g      Geometry
	hashes []Hash

	// The tree levels above the blocks (DefaultFanout) as of the last
	// Root, and the blocks set since, so that Root after a cycle that
	// changed a few blocks rehashes only their paths.
	mu    sync.Mutex
	upper [][]Hash // upper[k-1] is level k; nil until the first Root
	dirty *Set     // blocks changed since upper was computed
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
func (l *HashList) Set(i int64, h Hash) {
	if l.hashes[i] == h {
		return
	}
	l.hashes[i] = h
	if l.dirty != nil {
		l.dirty.Add(i)
	}
}

// touched notes that the hashes of blocks were written directly.
func (l *HashList) touched(blocks *Set) {
	if l.dirty != nil {
		_ = l.dirty.Union(blocks)
	}
}

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
// the block size changes. The first call hashes the whole tree (a 1 TiB
// volume of 64 KiB blocks holds 512 MiB of block hashes) and keeps its
// upper levels, about a fifteenth of the list's size; later calls rehash
// only the paths above blocks set since.
func (l *HashList) Root() Hash {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.hashes) <= 1 {
		return treeRoot(l.g, DefaultFanout, l.hashes)
	}
	nh := newTreeHasher()
	if l.upper == nil {
		below := l.hashes
		for k := 1; len(below) > 1; k++ {
			below = nh.level(k, below, DefaultFanout, nil)
			l.upper = append(l.upper, below)
		}
		l.dirty = NewSet(l.Len())
	} else if !l.dirty.Empty() {
		l.rehashPaths(nh)
	}
	return treeRoot(l.g, DefaultFanout, l.upper[len(l.upper)-1])
}

// rehashPaths recomputes the nodes above the dirty blocks, level by level.
func (l *HashList) rehashPaths(nh *treeHasher) {
	var nodes []int64
	for i := range l.dirty.All() {
		if p := i / DefaultFanout; len(nodes) == 0 || nodes[len(nodes)-1] != p {
			nodes = append(nodes, p)
		}
	}
	l.dirty.Clear()
	below := l.hashes
	for k := 1; k <= len(l.upper); k++ {
		level := l.upper[k-1]
		parents := nodes[:0]
		for _, p := range nodes {
			lo := p * DefaultFanout
			level[p] = nh.node(k, p, below[lo:min(lo+DefaultFanout, int64(len(below)))])
			if pp := p / DefaultFanout; len(parents) == 0 || parents[len(parents)-1] != pp {
				parents = append(parents, pp)
			}
		}
		below, nodes = level, parents
	}
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
