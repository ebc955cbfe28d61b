package delta

import (
	"encoding/binary"
	"fmt"

	"github.com/zeebo/blake3"
)

// Fan-out bounds of a HashTree.
const (
	// DefaultFanout is the fan-out of HashList.Root and of NewHashTree given
	// 0. Sixteen keeps the hash traffic of a resync with 1% of blocks
	// changed at random near a fifth of sending every block hash (fan-out 4
	// gives an eighth, 64 a half; see TestDifferExchangeIsSmall) with one
	// round trip a level: seven for a 1 TiB volume of 64 KiB blocks.
	DefaultFanout = 16
	// MinFanout and MaxFanout bound the fan-out of a HashTree.
	MinFanout = 2
	MaxFanout = 1024
)

// Key-derivation contexts that separate the hashing domains: a tree node
// can never be mistaken for a block's content, a root for a node, a
// group's root for a volume's.
const (
	treeNodeContext  = "blockrep 2026-11-25 hash tree node v1"
	treeRootContext  = "blockrep 2026-11-25 hash tree root v1"
	groupRootContext = "blockrep 2026-11-25 group root v1"
)

// HashTree is a Merkle tree over the block hashes of one volume, the shape
// two sides compare top down during a resync so that only the hashes on
// the paths to differing blocks cross the wire.
//
// Level 0 holds the block hashes. Node i of level k+1 is the BLAKE3 (in
// its own key-derivation domain) of the level number k+1, the index i and
// the concatenation of nodes i×fanout … i×fanout+fanout-1 of level k
// (fewer at the end of a level). The top level has one node. The root
// binds the top node to the volume size, the block size and the fan-out,
// so trees over volumes of other lengths or shapes never share a root.
//
// A HashTree is immutable once built and safe for concurrent use.
type HashTree struct {
	g      Geometry
	fanout int
	levels [][]Hash
	root   Hash
}

// NewHashTree builds the tree over a copy of list's hashes with the given
// fan-out (0 means DefaultFanout); a fan-out outside MinFanout..MaxFanout
// gives an error wrapping ErrHashOption. Later changes to list do not
// change the tree.
func NewHashTree(list *HashList, fanout int) (*HashTree, error) {
	if fanout == 0 {
		fanout = DefaultFanout
	}
	if fanout < MinFanout || fanout > MaxFanout {
		return nil, fmt.Errorf("%w: fan-out %d outside %d..%d", ErrHashOption, fanout, MinFanout, MaxFanout)
	}
	t := &HashTree{g: list.g, fanout: fanout}
	t.levels = append(t.levels, append([]Hash(nil), list.hashes...))
	nh := newTreeHasher()
	for len(t.levels[len(t.levels)-1]) > 1 {
		k := len(t.levels)
		t.levels = append(t.levels, nh.level(k, t.levels[k-1], fanout, nil))
	}
	t.root = treeRoot(t.g, fanout, t.levels[len(t.levels)-1])
	return t, nil
}

// Geometry returns the geometry of the volume the tree describes.
func (t *HashTree) Geometry() Geometry { return t.g }

// Fanout returns the number of children of every full node.
func (t *HashTree) Fanout() int { return t.fanout }

// Levels returns the number of levels, at least 1: level 0 holds the block
// hashes and level Levels()-1 is the top, with one node (none when the
// volume has no block).
func (t *HashTree) Levels() int { return len(t.levels) }

// Level returns the nodes of level k, which the caller must not modify.
// k outside 0..Levels()-1 panics.
func (t *HashTree) Level(k int) []Hash { return t.levels[k] }

// Width returns the number of nodes of level k, 0 for a level that does
// not exist.
func (t *HashTree) Width(k int) int64 {
	if k < 0 || k >= len(t.levels) {
		return 0
	}
	return int64(len(t.levels[k]))
}

// Node returns node i of level k. Indexes out of range panic.
func (t *HashTree) Node(k int, i int64) Hash { return t.levels[k][i] }

// Children returns the index of the first child of node i of level k ≥ 1
// in level k-1, and how many children it has (fan-out, or fewer for the
// last node of a level). It returns (0, 0) for a node that does not exist
// or for level 0.
func (t *HashTree) Children(k int, i int64) (first int64, count int) {
	if k < 1 || k >= len(t.levels) || i < 0 || i >= int64(len(t.levels[k])) {
		return 0, 0
	}
	first = i * int64(t.fanout)
	return first, int(min(int64(t.fanout), int64(len(t.levels[k-1]))-first))
}

// Root returns the tree's root: equal for two trees exactly when their
// geometries, fan-outs and block hashes are equal. With DefaultFanout it
// equals HashList.Root of the list the tree was built from.
func (t *HashTree) Root() Hash { return t.root }

// treeHasher hashes nodes, reusing one BLAKE3 state in the node domain.
type treeHasher struct {
	h   *blake3.Hasher
	hdr [9]byte
}

func newTreeHasher() *treeHasher {
	return &treeHasher{h: blake3.NewDeriveKey(treeNodeContext)}
}

// node returns the hash of node index of level (≥ 1) over its children.
func (nh *treeHasher) node(level int, index int64, children []Hash) Hash {
	nh.h.Reset()
	nh.hdr[0] = byte(level)
	binary.LittleEndian.PutUint64(nh.hdr[1:], uint64(index))
	_, _ = nh.h.Write(nh.hdr[:])
	for i := range children {
		_, _ = nh.h.Write(children[i][:])
	}
	var out Hash
	nh.h.Sum(out[:0])
	return out
}

// level computes level k from below (level k-1) into dst's storage.
func (nh *treeHasher) level(k int, below []Hash, fanout int, dst []Hash) []Hash {
	n := (len(below) + fanout - 1) / fanout
	if cap(dst) >= n {
		dst = dst[:n]
	} else {
		dst = make([]Hash, n)
	}
	for i := range n {
		lo := i * fanout
		dst[i] = nh.node(k, int64(i), below[lo:min(lo+fanout, len(below))])
	}
	return dst
}

// treeRoot binds the top level of a tree to its shape.
func treeRoot(g Geometry, fanout int, top []Hash) Hash {
	var hdr [24]byte
	binary.LittleEndian.PutUint64(hdr[0:], uint64(g.Size))
	binary.LittleEndian.PutUint32(hdr[8:], uint32(g.BlockSize))
	binary.LittleEndian.PutUint32(hdr[12:], uint32(fanout))
	binary.LittleEndian.PutUint64(hdr[16:], uint64(g.Blocks()))
	h := blake3.NewDeriveKey(treeRootContext)
	_, _ = h.Write(hdr[:])
	var topNode Hash
	if len(top) == 1 {
		topNode = top[0]
	}
	_, _ = h.Write(topNode[:])
	var out Hash
	h.Sum(out[:0])
	return out
}
