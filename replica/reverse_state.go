package replica

import (
	"context"
	"fmt"

	"github.com/blockrep/blockrep/checkpoint"
	"github.com/blockrep/blockrep/delta"
)

// reverseClone names the clone a reverse relationship's volumes write
// through: the new primary's image, over the group's latest point.
const reverseClone = "primary"

// roleTable is what a replica host knows of its groups' roles beyond the
// states map: which groups' durable role it has read from their records,
// and the reverse relationships started from its groups. Guarded by
// ReplicaHost.mu.
type roleTable struct {
	loaded  map[string]bool
	reverse map[string]*reverseSide
}

// reverseSide ties a reverse relationship to the replica host whose group
// it writes through a clone of.
type reverseSide struct {
	h     *ReplicaHost
	rel   *Relationship
	clone checkpoint.Clone
	point checkpoint.Point // the point the clone started from
	vols  []*writtenVolume
}

// loadRole reads, the first time the host opens group g, the role its
// record keeps: a group FailedOver before a restart is FailedOver again.
// From then on the host's memory is the truth, and every change of a
// durable role is written to the record before it is made in memory.
func (h *ReplicaHost) loadRole(g checkpoint.Group) {
	id := g.ID()
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.roles.loaded[id] {
		return
	}
	if h.roles.loaded == nil {
		h.roles.loaded = make(map[string]bool)
	}
	h.roles.loaded[id] = true
	rec, err := decodeRecord(g.Spec().Meta)
	if err != nil || rec.Role.State != FailedOver {
		return
	}
	if _, ok := h.states[id]; !ok {
		h.states[id] = FailedOver
		h.log.Info("group is failed over (kept in its record)", "group", id, "point", rec.Role.Point)
	}
}

// groupRole returns the role g's record keeps (Replicating, no change
// map, for a record without one or a group created by other means).
func groupRoleOf(g checkpoint.Group) groupRole {
	rec, err := decodeRecord(g.Spec().Meta)
	if err != nil {
		return groupRole{State: Replicating}
	}
	return rec.Role
}

// setRole writes role into g's record, keeping its metadata and failover
// settings. A change map that makes the record too large for the store is
// recorded as unknown, so that the role itself is never lost.
func setRole(ctx context.Context, g checkpoint.Group, role groupRole) error {
	meta := g.Spec().Meta
	b := replaceRecordRole(meta, role)
	if len(b) > checkpoint.MaxMetaSize && role.Changes.Kind == changesKnown {
		role.Changes = changeMap{Kind: changesUnknown, Since: role.Changes.Since, Also: role.Changes.Also}
		b = replaceRecordRole(meta, role)
	}
	if err := g.SetMeta(ctx, b); err != nil {
		return fmt.Errorf("replica: record the role of group %q: %w", g.ID(), err)
	}
	return nil
}

// forgetRole drops what the host knows of group id's role (the group was
// removed or created anew).
func (h *ReplicaHost) forgetRoleLocked(id string) {
	delete(h.roles.loaded, id)
}

// failedOverChanges returns the change map a completed failover records:
// the blocks the commit changed since the old latest point prev. When the
// commit made no point (the image was the latest point unchanged) nothing
// changed since prev.
func failedOverChanges(latest checkpoint.Point, prev delta.PointID, geoms []delta.Geometry) changeMap {
	if latest.ID == prev {
		sets := make([]*delta.Set, len(geoms))
		for i, g := range geoms {
			sets[i] = delta.NewSet(g.Blocks())
		}
		return knownChanges(prev, delta.PointID{}, sets)
	}
	if latest.Base != prev || len(latest.Changed) != len(geoms) {
		return changeMap{Kind: changesUnknown, Since: prev}
	}
	return knownChanges(prev, delta.PointID{}, latest.Changed)
}

// recordCompletedFailover keeps, in g's record, that the group is
// FailedOver at its latest point and what the failover changed since
// prev, the latest point before the commit. CompleteFailover calls it
// once the image is committed.
func (h *ReplicaHost) recordCompletedFailover(ctx context.Context, g checkpoint.Group, prev delta.PointID) error {
	latest, err := g.Latest(ctx)
	if err != nil {
		return err
	}
	role := groupRole{State: FailedOver, Point: latest.ID, Changes: failedOverChanges(latest, prev, g.Spec().Geometries())}
	return setRole(ctx, g, role)
}
