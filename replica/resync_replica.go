package replica

import (
	"context"
	"errors"
	"fmt"

	"github.com/blockrep/blockrep/checkpoint"
	"github.com/blockrep/blockrep/delta"
)

// resyncTree is the hash tree a session last built for resync queries:
// one volume of one point at a time, so a session holds at most one
// volume's block hashes (32 bytes a block) and its upper levels.
type resyncTree struct {
	group  string
	point  delta.PointID
	volume int
	tree   *delta.HashTree
}

// resyncQuery answers a ResyncQuery with the hashes of the nodes it names.
// The checkpoint store does not expose the block hashes it keeps, so the
// tree is built by reading the volume of the latest point once
// (delta.HashVolume); the session keeps it for the rounds that follow.
func (s *session) resyncQuery(ctx context.Context, m resyncQueryMsg) error {
	if !s.authorize(ctx, m.Group) {
		return nil
	}
	hs, code, err := s.resyncHashes(ctx, m)
	if err != nil {
		s.log.Warn("resync query refused", "group", m.Group, "err", err)
		s.nack(ctx, code, err.Error())
		return nil
	}
	ds := make([]nodeDigest, len(hs))
	for i, h := range hs {
		ds[i] = digestOf(h)
	}
	return sendMsg(ctx, s.conn, resyncHashesMsg{Group: m.Group, Point: m.Point, Volume: m.Volume, Level: m.Level, Digests: ds})
}

func (s *session) resyncHashes(ctx context.Context, m resyncQueryMsg) ([]delta.Hash, Code, error) {
	g, code, err := s.resyncPoint(ctx, "resync query", m.Group, m.Point, m.Volume)
	if err != nil {
		return nil, code, err
	}
	spec := g.Spec()
	vol := int(m.Volume)
	t := s.tree
	if t.tree == nil || t.group != m.Group || t.point != m.Point || t.volume != vol || t.tree.Fanout() != int(m.Fanout) {
		s.tree = resyncTree{}
		tree, err := s.hashPoint(ctx, g, m.Point, vol, spec.Geometries()[vol], int(m.Fanout))
		if err != nil {
			return nil, CodeInternal, err
		}
		t = resyncTree{group: m.Group, point: m.Point, volume: vol, tree: tree}
		s.tree = t
	}
	level := int(m.Level)
	if level >= t.tree.Levels() {
		return nil, CodeProtocol, fmt.Errorf("%w: level %d of %d", ErrProtocol, level, t.tree.Levels())
	}
	width := t.tree.Width(level)
	nodes, n, err := delta.UnmarshalSet(m.Nodes, width)
	if err != nil || n != len(m.Nodes) || nodes.Len() != width {
		return nil, CodeProtocol, fmt.Errorf("%w: node set for level %d of width %d: %v", ErrProtocol, level, width, err)
	}
	if c := nodes.Count(); c > MaxResyncNodes {
		return nil, CodeLimit, fmt.Errorf("%w: %d nodes asked, at most %d", delta.ErrLimit, c, MaxResyncNodes)
	}
	hs, err := t.tree.AppendNodes(make([]delta.Hash, 0, nodes.Count()), level, nodes)
	if err != nil {
		return nil, CodeProtocol, err
	}
	return hs, 0, nil
}

// resyncPoint checks what every resynchronization query of group needs:
// the group held and replicating here, its latest point the query's point,
// the volume one of the group's. It returns the group, or the Nack code and
// error to refuse the query with.
func (s *session) resyncPoint(ctx context.Context, op, group string, point delta.PointID, vol uint16) (checkpoint.Group, Code, error) {
	g, err := s.h.openGroup(ctx, group)
	if err != nil {
		return nil, codeOf(err), err
	}
	// A group failed over on this host takes no delta, so it is not
	// compared either.
	if st := s.h.groupState(group); st != Replicating && st != TestFailoverRunning {
		return nil, CodeStateConflict, &StateError{Op: op, From: st}
	}
	latest, err := g.Latest(ctx)
	if errors.Is(err, checkpoint.ErrNoPoint) {
		return nil, CodeBaseMismatch, fmt.Errorf("%w: group %q has no point", checkpoint.ErrBaseMismatch, group)
	}
	if err != nil {
		return nil, CodeInternal, err
	}
	if latest.ID != point {
		return nil, CodeBaseMismatch, fmt.Errorf("%w: latest point is %s, not %s", checkpoint.ErrBaseMismatch, latest.ID, point)
	}
	if n := len(g.Spec().Volumes); int(vol) >= n {
		return nil, CodeProtocol, fmt.Errorf("%w: volume %d of %d", ErrProtocol, vol, n)
	}
	return g, 0, nil
}

// hashPoint builds the hash tree of volume vol as of point id.
func (s *session) hashPoint(ctx context.Context, g checkpoint.Group, id delta.PointID, vol int, geom delta.Geometry, fanout int) (*delta.HashTree, error) {
	view, err := g.OpenPoint(ctx, id)
	if err != nil {
		return nil, err
	}
	defer view.Close()
	list, err := delta.HashVolume(ctx, view.Volumes()[vol], geom)
	if err != nil {
		return nil, fmt.Errorf("replica: hash volume %d of point %s: %w", vol, id, err)
	}
	return delta.NewHashTree(list, fanout)
}
