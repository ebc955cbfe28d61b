package replica

import (
	"context"
	"errors"
	"fmt"

	"github.com/blockrep/blockrep/checkpoint"
	"github.com/blockrep/blockrep/delta"
)

// promote answers a Promote: the group becomes FailedOver at the named
// point, durably, then the acknowledgement goes out and OnPromoted runs.
func (s *session) promote(ctx context.Context, m promoteMsg) error {
	if !s.authorize(ctx, m.Group) {
		return nil
	}
	ack, code, err := s.h.promote(ctx, m)
	if err != nil {
		s.log.Warn("promotion refused", "group", m.Group, "point", m.Point, "err", err)
		s.nack(ctx, code, err.Error())
		return nil
	}
	if err := sendMsg(ctx, s.conn, promotedMsg(ack)); err != nil {
		return err
	}
	if f := s.h.cfg.OnPromoted; f != nil && !ack.Replayed {
		// On a goroutine of its own, so that the session goes on; the
		// host's WaitGroup (held by this session already) makes Serve and
		// Close wait for it.
		s.h.wg.Add(1)
		go func() {
			defer s.h.wg.Done()
			f(m.Group, m.ReverseTo)
		}()
	}
	return nil
}

// promote makes group m.Group FailedOver at m.Point, which must be its
// latest point, and records it; a group promoted at that point already is
// acknowledged again (Replayed), for a primary whose acknowledgement was
// lost.
func (h *ReplicaHost) promote(ctx context.Context, m promoteMsg) (ackMsg, Code, error) {
	g, err := h.openGroup(ctx, m.Group)
	if err != nil {
		return ackMsg{}, codeOf(err), err
	}
	h.loadRole(g)
	latest, err := g.Latest(ctx)
	if errors.Is(err, checkpoint.ErrNoPoint) {
		return ackMsg{}, CodeBaseMismatch, fmt.Errorf("%w: group %q has no point to promote", checkpoint.ErrBaseMismatch, m.Group)
	}
	if err != nil {
		return ackMsg{}, CodeInternal, err
	}
	ack := ackMsg{Group: m.Group, Point: latest.ID, Hash: latest.Hash, Time: latest.Time}
	h.mu.Lock()
	from := h.stateLocked(m.Group)
	if from == FailedOver {
		h.mu.Unlock()
		if role := groupRoleOf(g); role.Promoted && role.Point == m.Point && latest.ID == m.Point {
			ack.Replayed = true
			return ack, 0, nil
		}
		return ackMsg{}, CodeStateConflict, fmt.Errorf("%w: group %q is failed over already, not promoted at %s", ErrInvalidState, m.Group, m.Point)
	}
	if latest.ID != m.Point {
		h.mu.Unlock()
		return ackMsg{}, CodeBaseMismatch, fmt.Errorf("%w: promote at %s, the latest point is %s", checkpoint.ErrBaseMismatch, m.Point, latest.ID)
	}
	if from != Replicating || h.idleLocked(m.Group) != nil {
		h.mu.Unlock()
		return ackMsg{}, CodeStateConflict, fmt.Errorf("%w: group %q is %s (a test failover must be stopped, an unplanned failover cancelled, before a planned failover)", ErrInvalidState, m.Group, from)
	}
	if err := h.setStateLocked("promote", m.Group, FailedOver); err != nil {
		h.mu.Unlock()
		return ackMsg{}, CodeStateConflict, err
	}
	h.mu.Unlock()
	sets := make([]*delta.Set, 0, len(g.Spec().Volumes))
	for _, geo := range g.Spec().Geometries() {
		sets = append(sets, delta.NewSet(geo.Blocks()))
	}
	role := groupRole{State: FailedOver, Promoted: true, Point: latest.ID, Changes: knownChanges(latest.ID, delta.PointID{}, sets)}
	if err := setRole(ctx, g, role); err != nil {
		h.mu.Lock()
		h.forceStateLocked(m.Group, from)
		h.mu.Unlock()
		return ackMsg{}, CodeInternal, err
	}
	h.log.Info("promoted by a planned failover", "group", m.Group, "point", latest.ID)
	return ack, 0, nil
}
