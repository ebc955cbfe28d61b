package replica

import (
	"context"
	"fmt"

	"github.com/blockrep/blockrep/delta"
)

// compareVolume compares the primary's block hashes of volume ti with the
// replica's tree of point base, level by level from the top, and returns
// the blocks that differ. Only the nodes on the paths to differing blocks
// are asked for; the bytes of every query and answer are added to
// res.HashBytes.
func (r *Relationship) compareVolume(ctx context.Context, base delta.PointID, ti int, list *delta.HashList, res *ResyncResult) (*delta.Set, error) {
	if list.Len() == 0 {
		return delta.NewSet(0), nil
	}
	tree, err := delta.NewHashTree(list, resyncFanout)
	if err != nil {
		return nil, err
	}
	d := delta.NewDiffer(tree)
	var remote []delta.Hash
	for !d.Done() {
		level := d.Level()
		remote = remote[:0]
		for chunk := range chunkSet(d.Want(), MaxResyncNodes) {
			ds, err := r.queryHashes(ctx, base, ti, level, chunk, res)
			if err != nil {
				return nil, err
			}
			// The peer's node is taken to be the local one when their
			// digests agree, and to differ from it when they do not.
			i := 0
			for node := range chunk.All() {
				h := tree.Node(level, node)
				if digestOf(h) != ds[i] {
					copy(h[:], ds[i][:])
				}
				remote = append(remote, h)
				i++
			}
		}
		if err := d.Compare(remote); err != nil {
			return nil, fmt.Errorf("replica: compare volume %s at level %d: %w", r.infos[ti].ID, level, err)
		}
	}
	return d.Differing(), nil
}

// queryHashes asks the replica for the digests of nodes at level of
// volume ti's tree and checks the answer fits the question.
func (r *Relationship) queryHashes(ctx context.Context, base delta.PointID, ti, level int, nodes *delta.Set, res *ResyncResult) ([]nodeDigest, error) {
	enc, err := nodes.AppendBinary(nil)
	if err != nil {
		return nil, err
	}
	q := resyncQueryMsg{Group: r.cfg.ID, Point: base, Volume: uint16(ti), Fanout: resyncFanout, Level: uint8(level), Nodes: enc}
	if err := checkMessage(q); err != nil {
		return nil, err
	}
	frame := appendMessage(make([]byte, 0, 32+len(enc)), q)
	if err := r.conn.Send(ctx, frame); err != nil {
		return nil, fmt.Errorf("replica: resync query: %w", err)
	}
	a, buf, err := expectReply[resyncHashesMsg](ctx, r.conn, r.buf)
	r.buf = buf
	if err != nil {
		return nil, fmt.Errorf("replica: resync query of volume %s level %d: %w", r.infos[ti].ID, level, refusal(err))
	}
	want := nodes.Count()
	if a.Group != q.Group || a.Point != base || a.Volume != q.Volume || a.Level != q.Level || int64(len(a.Digests)) != want {
		return nil, fmt.Errorf("%w: resync answer %s/%s volume %d level %d with %d hashes, want %s/%s volume %d level %d with %d",
			ErrProtocol, a.Group, a.Point, a.Volume, a.Level, len(a.Digests), q.Group, base, q.Volume, q.Level, want)
	}
	res.HashRounds++
	res.HashBytes += int64(len(frame)) + int64(resyncHashesSize(a))
	return a.Digests, nil
}

// resyncHashesSize is the length of a's frame: that of the frame without
// digests (whatever the framing adds) and the digests.
func resyncHashesSize(a resyncHashesMsg) int {
	return len(appendMessage(nil, resyncHashesMsg{Group: a.Group})) + len(a.Digests)*ResyncDigestSize
}

// chunkSet yields want cut, in ascending order, into sets over the same
// universe of at most max members each.
func chunkSet(want *delta.Set, max int64) func(yield func(*delta.Set) bool) {
	return func(yield func(*delta.Set) bool) {
		cur := delta.NewSet(want.Len())
		var n int64
		for start, count := range want.Runs() {
			for count > 0 {
				take := min(count, max-n)
				cur.AddRange(start, take)
				n += take
				start += take
				count -= take
				if n == max {
					if !yield(cur) {
						return
					}
					cur, n = delta.NewSet(want.Len()), 0
				}
			}
		}
		if n > 0 {
			yield(cur)
		}
	}
}

// resyncFanout is the fan-out of the trees a resynchronization compares.
// Four asks for about an eighth of the nodes a full list of block hashes
// would hold when 1% of blocks differ at random (sixteen, delta.DefaultFanout,
// a fifth; measured by BenchmarkResync1GiB1PercentDiff: 34 KB of queries
// and digests against 56 KB for a 1 GiB volume), for one round trip a
// level: seven for 1 GiB of 64 KiB blocks, twelve for 1 TiB, which is
// little next to reading the volume.
const resyncFanout = 4
