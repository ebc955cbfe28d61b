package replica

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/blockrep/blockrep/checkpoint"
)

// splitBrainOf adds ErrSplitBrain to a cycle's ErrReplicaFailedOver when
// the replica completed its failover (it is FailedOver: a primary of its
// own) and this primary has written since its last acknowledged point
// (the cycle restored its frozen blocks, so the tracker holds them): both
// sides wrote past their last common point. When the replica refused the
// delta on a kept connection, a new connection's status says which
// failover state it is in. The op slot is held.
func (r *Relationship) splitBrainOf(ctx context.Context, err error) error {
	if err == nil {
		r.roles.replicaState.Store(0)
		return nil
	}
	if !errors.Is(err, ErrReplicaFailedOver) || errors.Is(err, ErrSplitBrain) || r.tracker.Pending().Blocks == 0 {
		return err
	}
	if r.roles.replicaState.Load() == 0 && r.conn == nil {
		if st, cerr := r.connect(ctx); cerr == nil && st != nil && st.Exists {
			r.roles.replicaState.Store(uint32(st.State))
		}
		r.closeConn()
	}
	if State(r.roles.replicaState.Load()) != FailedOver {
		return err
	}
	return fmt.Errorf("%w: %w: the replica completed its failover and this primary wrote since its last point (demote this side, or discard the failover there)", ErrSplitBrain, err)
}

// DiscardFailover resolves a split brain in favour of the old primary, on
// the failed-over side: it removes the group's reverse relationship from p
// (if any; p may be nil when there is none), discards the "primary" clone
// the new primary wrote through — every write made to it is lost — and
// returns the group to Replicating at its latest point. The old primary's
// next cycle finds the replica at a point it never sent (a completed
// failover's), becomes ResynchronizationRequired, and
// Relationship.Resynchronize makes the two sides identical by hash
// comparison; after a planned failover's promotion the latest point is the
// old primary's last one and its cycles simply go on.
//
// It returns a *StateError unless the group is FailedOver,
// ErrUnknownGroup, ErrClosed, or the store's error (the group then stays
// FailedOver and the call may be repeated).
func (h *ReplicaHost) DiscardFailover(ctx context.Context, group string, p *PrimaryHost) error {
	g, err := h.openGroup(ctx, group)
	if err != nil {
		return err
	}
	h.mu.Lock()
	if st := h.stateLocked(group); st != FailedOver {
		h.mu.Unlock()
		return &StateError{Op: "discard failover", From: st, To: Replicating}
	}
	side, reversed := h.roles.reverse[group]
	if reversed && side == nil {
		h.mu.Unlock()
		return &StateError{Op: "discard failover (a Reverse is being set up)", From: FailedOver, To: Replicating}
	}
	h.mu.Unlock()
	if side != nil {
		if p == nil {
			return fmt.Errorf("%w: group %q has a reverse relationship: DiscardFailover needs its PrimaryHost", ErrInvalidConfig, group)
		}
		if r, err := p.Relationship(group); err == nil && r == side.rel {
			if err := p.Remove(ctx, group); err != nil {
				return fmt.Errorf("replica: discard failover of %q: remove the reverse relationship: %w", group, err)
			}
		}
		if err := side.clone.Discard(ctx); err != nil {
			return fmt.Errorf("replica: discard failover of %q: discard the new primary's image: %w", group, err)
		}
	} else if err := discardCloneIfAny(ctx, g, reverseClone); err != nil {
		return fmt.Errorf("replica: discard failover of %q: %w", group, err)
	}
	if err := setRole(ctx, g, groupRole{State: Replicating}); err != nil {
		return err
	}
	h.mu.Lock()
	delete(h.roles.reverse, group)
	h.setStateLocked("discard failover", group, Replicating)
	h.mu.Unlock()
	h.log.Info("failover discarded: the old primary wins", "group", group)
	return nil
}

// discardCloneIfAny discards g's clone of that name if there is one (left
// by a process that ended while it was in use).
func discardCloneIfAny(ctx context.Context, g checkpoint.Group, name string) error {
	names, err := g.Clones(ctx)
	if err != nil {
		return err
	}
	if slices.Contains(names, name) {
		return g.DiscardClone(ctx, name)
	}
	return nil
}
