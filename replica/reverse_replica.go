package replica

import (
	"context"
	"errors"
	"fmt"

	"github.com/blockrep/blockrep/checkpoint"
	"github.com/blockrep/blockrep/delta"
)

// reverseQuery answers the first request of a reverse relationship with
// this side's latest point, geometry and change map.
func (s *session) reverseQuery(ctx context.Context, m reverseQueryMsg) error {
	if !s.authorize(ctx, m.Group) {
		return nil
	}
	info, code, err := s.h.reverseInfo(ctx, m)
	if err != nil {
		s.log.Warn("reverse replication refused", "group", m.Group, "err", err)
		s.nack(ctx, code, err.Error())
		return nil
	}
	return sendMsg(ctx, s.conn, info)
}

// reverseInfo describes this host's copy of a group to the new primary:
// its latest point and, when that point is the seed a Demote stored, the
// blocks written on the old primary since its last acknowledged point.
func (h *ReplicaHost) reverseInfo(ctx context.Context, m reverseQueryMsg) (reverseInfoMsg, Code, error) {
	if err := h.splitBrain(m.Group); err != nil {
		var se *StateError
		if errors.As(err, &se) {
			return reverseInfoMsg{}, CodeStateConflict, err
		}
		return reverseInfoMsg{}, CodeSplitBrain, err
	}
	g, err := h.openGroup(ctx, m.Group)
	if err != nil {
		return reverseInfoMsg{}, codeOf(err), fmt.Errorf("%w (has the old primary demoted?)", err)
	}
	h.loadRole(g)
	switch st := h.groupState(m.Group); st {
	case Replicating, TestFailoverRunning:
	case FailedOver:
		return reverseInfoMsg{}, CodeSplitBrain, fmt.Errorf("%w: group %q is failed over on this host too", ErrSplitBrain, m.Group)
	default:
		return reverseInfoMsg{}, CodeStateConflict, &StateError{Op: "reverse replication", From: st}
	}
	latest, err := g.Latest(ctx)
	if errors.Is(err, checkpoint.ErrNoPoint) {
		return reverseInfoMsg{}, CodeNoCommonPoint, fmt.Errorf("%w: group %q holds no point here", ErrNoCommonPoint, m.Group)
	}
	if err != nil {
		return reverseInfoMsg{}, CodeInternal, err
	}
	spec := g.Spec()
	info := reverseInfoMsg{Group: m.Group, Latest: latest.ID, BlockSize: uint32(spec.BlockSize), Volumes: spec.Volumes}
	if info.BlockSize == 0 {
		info.BlockSize = delta.DefaultBlockSize
	}
	role := groupRoleOf(g)
	if role.Changes.Kind != changesNone && role.Point == latest.ID {
		info.Changes = role.Changes // the seed of a Demote, nothing applied on it since
	} else {
		sets := make([]*delta.Set, 0, len(spec.Volumes))
		for _, geo := range spec.Geometries() {
			sets = append(sets, delta.NewSet(geo.Blocks()))
		}
		info.Changes = knownChanges(latest.ID, delta.PointID{}, sets) // nothing changed since the latest point
	}
	if err := checkMessage(info); err != nil {
		info.Changes = changeMap{Kind: changesUnknown, Since: info.Changes.Since, Also: info.Changes.Also}
	}
	return info, 0, nil
}

// splitBrain returns an error wrapping ErrSplitBrain when this host's
// primary host (ReplicaConfig.Primary) still has a relationship of group
// that may write — it never demoted — and a *StateError when it has one
// prepared for failover (Demote it first).
func (h *ReplicaHost) splitBrain(group string) error {
	p := h.cfg.Primary
	if p == nil {
		return nil
	}
	r, err := p.Relationship(group)
	if err != nil {
		return nil
	}
	if st := r.State(); st == PreparedForFailover {
		return &StateError{Op: "reverse replication (demote the prepared relationship first)", From: st}
	}
	return fmt.Errorf("%w: group %q: this host still replicates it as primary and may have written (demote it, or discard the failover on the other side)", ErrSplitBrain, group)
}
