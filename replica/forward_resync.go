package replica

import (
	"context"
	"fmt"

	"github.com/blockrep/blockrep/checkpoint"
	"github.com/blockrep/blockrep/delta"
)

// resyncBlocks compares the volumes of view (this replica's point) with
// the hash trees of the extended replica's latest point base, top down as
// a primary's resynchronization does (ResyncQuery, ResyncHashes), and
// returns per volume the blocks that differ, and the bytes of the hash
// traffic. It serves an extended replica whose latest point this replica
// does not have: the delta of those blocks, on top of base, makes it equal
// to view's point.
func (c *forwardConn) resyncBlocks(ctx context.Context, base delta.PointID, view checkpoint.View, geoms []delta.Geometry) ([]*delta.Set, int64, error) {
	vols := view.Volumes()
	out := make([]*delta.Set, len(vols))
	var traffic int64
	for vi, vol := range vols {
		list, err := delta.HashVolume(ctx, vol, geoms[vi])
		if err != nil {
			return nil, traffic, fmt.Errorf("replica: hash volume %s of the forwarded point: %w", vol.ID(), err)
		}
		if list.Len() == 0 {
			out[vi] = delta.NewSet(0)
			continue
		}
		tree, err := delta.NewHashTree(list, resyncFanout)
		if err != nil {
			return nil, traffic, err
		}
		d := delta.NewDiffer(tree)
		var remote []delta.Hash
		for !d.Done() {
			level := d.Level()
			remote = remote[:0]
			for chunk := range chunkSet(d.Want(), MaxResyncNodes) {
				ds, n, err := c.queryHashes(ctx, base, vi, level, chunk)
				traffic += n
				if err != nil {
					return nil, traffic, err
				}
				// A node whose digest matches is taken to be ours; one
				// that does not, to differ from it.
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
				return nil, traffic, fmt.Errorf("replica: compare volume %s with the extended replica at level %d: %w", vol.ID(), level, err)
			}
		}
		out[vi] = d.Differing()
	}
	return out, traffic, nil
}

// queryHashes asks the extended replica for the digests of nodes at level
// of volume vi's tree of point base, and checks the answer fits.
func (c *forwardConn) queryHashes(ctx context.Context, base delta.PointID, vi, level int, nodes *delta.Set) ([]nodeDigest, int64, error) {
	enc, err := nodes.AppendBinary(nil)
	if err != nil {
		return nil, 0, err
	}
	q := resyncQueryMsg{Group: c.e.group, Point: base, Volume: uint16(vi), Fanout: resyncFanout, Level: uint8(level), Nodes: enc}
	if err := checkMessage(q); err != nil {
		return nil, 0, err
	}
	frame := appendMessage(make([]byte, 0, 32+len(enc)), q)
	if err := c.conn.Send(ctx, frame); err != nil {
		return nil, 0, fmt.Errorf("replica: resync query to extended replica: %w", err)
	}
	a, buf, err := expectReply[resyncHashesMsg](ctx, c.conn, c.buf)
	c.buf = buf
	if err != nil {
		return nil, int64(len(frame)), fmt.Errorf("replica: resync query to extended replica %s, volume %d level %d: %w", c.e.cfg.Replica, vi, level, refusal(err))
	}
	n := int64(len(frame)) + int64(resyncHashesSize(a))
	if a.Group != q.Group || a.Point != base || a.Volume != q.Volume || a.Level != q.Level || int64(len(a.Digests)) != nodes.Count() {
		return nil, n, fmt.Errorf("%w: resync answer %s/%s volume %d level %d with %d digests, want %s/%s volume %d level %d with %d",
			ErrProtocol, a.Group, a.Point, a.Volume, a.Level, len(a.Digests), q.Group, base, q.Volume, q.Level, nodes.Count())
	}
	return a.Digests, n, nil
}
