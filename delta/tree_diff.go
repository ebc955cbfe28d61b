package delta

import "fmt"

// Comparing two HashTrees over a network: the side that drives (with a
// Differ) asks for the nodes it wants level by level, top down; the peer
// answers with AppendNodes; DiffLevel keeps the nodes that differ and
// Expand turns them into the next level's wanted nodes. Only the hashes on
// the paths to differing blocks cross the wire. Both trees must have the
// same geometry and fan-out, which the sides check first (equal roots
// mean nothing to do).

// DiffLevel compares the nodes want of one level: local is that whole
// level of the local tree, remote the peer's hashes of the nodes in want,
// in ascending order of index. It returns the nodes of want whose hashes
// differ. want must be a set over len(local) nodes and remote must hold
// want.Count() hashes, else the error wraps ErrMismatch.
func DiffLevel(local []Hash, want *Set, remote []Hash) (*Set, error) {
	if want.Len() != int64(len(local)) {
		return nil, fmt.Errorf("%w: wanted set over %d nodes for a level of %d", ErrMismatch, want.Len(), len(local))
	}
	if c := want.Count(); c != int64(len(remote)) {
		return nil, fmt.Errorf("%w: %d remote hashes for %d wanted nodes", ErrMismatch, len(remote), c)
	}
	diff := NewSet(want.Len())
	j := 0
	for i := range want.All() {
		if local[i] != remote[j] {
			diff.Add(i)
		}
		j++
	}
	return diff, nil
}

// AppendNodes appends to dst the hashes of the nodes in want at level k,
// in ascending order: the peer's answer to a Differ's Want. want must be a
// set over Width(k) nodes, else the error wraps ErrMismatch.
func (t *HashTree) AppendNodes(dst []Hash, k int, want *Set) ([]Hash, error) {
	if k < 0 || k >= len(t.levels) || want.Len() != int64(len(t.levels[k])) {
		return dst, fmt.Errorf("%w: wanted set over %d nodes for level %d of %d nodes", ErrMismatch, want.Len(), k, t.Width(k))
	}
	for i := range want.All() {
		dst = append(dst, t.levels[k][i])
	}
	return dst, nil
}

// Expand returns the children, in level k-1, of the nodes of level k ≥ 1
// in nodes. nodes must be a set over Width(k) nodes, else the error wraps
// ErrMismatch.
func (t *HashTree) Expand(k int, nodes *Set) (*Set, error) {
	if k < 1 || k >= len(t.levels) || nodes.Len() != int64(len(t.levels[k])) {
		return nil, fmt.Errorf("%w: expanding a set over %d nodes at level %d of %d nodes", ErrMismatch, nodes.Len(), k, t.Width(k))
	}
	out := NewSet(int64(len(t.levels[k-1])))
	for i := range nodes.All() {
		first, count := t.Children(k, i)
		out.AddRange(first, int64(count))
	}
	return out, nil
}

// Differ drives the comparison of a local HashTree with a peer's, from the
// top level down to the blocks:
//
//	d := NewDiffer(tree)
//	for !d.Done() {
//		remote := ask peer for d.Want() at d.Level() // peer: tree.AppendNodes
//		if err := d.Compare(remote); err != nil { … }
//	}
//	blocks := d.Differing()
//
// Each round sends the wanted set (Set.AppendBinary) one way and
// HashSize bytes a wanted node the other.
type Differ struct {
	t     *HashTree
	level int
	want  *Set
	diff  *Set
}

// NewDiffer starts a comparison of t with a peer's tree of the same
// geometry and fan-out, wanting the peer's top node.
func NewDiffer(t *HashTree) *Differ {
	top := len(t.levels) - 1
	d := &Differ{t: t, level: top, want: NewSet(int64(len(t.levels[top])))}
	d.want.AddRange(0, d.want.Len())
	if d.want.Empty() {
		d.finish(NewSet(0))
	}
	return d
}

// Done reports whether the comparison is over.
func (d *Differ) Done() bool { return d.diff != nil }

// Level returns the level whose nodes Want names, -1 once Done.
func (d *Differ) Level() int { return d.level }

// Want returns the nodes of Level() whose peer hashes Compare needs next,
// an empty set once Done. The set must not be modified.
func (d *Differ) Want() *Set { return d.want }

// Compare takes the peer's hashes of the nodes in Want, in ascending
// order, and moves one level down: to the children of the nodes that
// differ, or to Done when none differs or level 0 was compared. A wrong
// number of hashes gives an error wrapping ErrMismatch and changes
// nothing; Compare after Done does the same.
func (d *Differ) Compare(remote []Hash) error {
	if d.Done() {
		return fmt.Errorf("%w: comparison already done", ErrMismatch)
	}
	diff, err := DiffLevel(d.t.levels[d.level], d.want, remote)
	if err != nil {
		return err
	}
	if d.level == 0 {
		d.finish(diff)
		return nil
	}
	if diff.Empty() {
		d.finish(NewSet(int64(len(d.t.levels[0]))))
		return nil
	}
	want, err := d.t.Expand(d.level, diff)
	if err != nil {
		return err
	}
	d.level--
	d.want = want
	return nil
}

// Differing returns the blocks whose hashes differ from the peer's, once
// Done (nil before).
func (d *Differ) Differing() *Set { return d.diff }

func (d *Differ) finish(blocks *Set) {
	d.diff = blocks
	d.level = -1
	d.want = NewSet(0)
}

// AppendHashes appends hs to b as concatenated 32-byte hashes: the wire
// form of a peer's answer to a Differ.
func AppendHashes(b []byte, hs []Hash) []byte {
	for i := range hs {
		b = append(b, hs[i][:]...)
	}
	return b
}

// ParseHashes decodes hashes written by AppendHashes. Input that is not a
// whole number of hashes gives a *CorruptError; more than limit hashes an
// error wrapping ErrLimit, before anything is allocated.
func ParseHashes(b []byte, limit int) ([]Hash, error) {
	if len(b)%HashSize != 0 {
		return nil, corrupt(int64(len(b)-len(b)%HashSize), fmt.Sprintf("hashes: %d bytes is not a multiple of %d", len(b), HashSize))
	}
	n := len(b) / HashSize
	if n > limit {
		return nil, fmt.Errorf("%w: %d hashes exceed limit %d", ErrLimit, n, limit)
	}
	hs := make([]Hash, n)
	for i := range hs {
		copy(hs[i][:], b[i*HashSize:])
	}
	return hs, nil
}
