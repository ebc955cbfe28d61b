package checkpoint

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/blockrep/blockrep/delta"
)

// Rollback implements Group.
//
// Writing the undo logs back from the newest to the target's own leaves
// every page with the content of the first log at or after the target that
// saved it — the target's content, as a view reads it. The logs do not
// change until the manifest commit, so the write-back can be repeated:
// after a crash the reopen simply does it again (the intent says so).
func (g *dirGroup) Rollback(ctx context.Context, id delta.PointID) error {
	g.opMu.Lock()
	defer g.opMu.Unlock()
	if err := g.usable(); err != nil {
		return err
	}
	g.mu.RLock()
	m := g.man
	i := m.index(id)
	var busy []delta.PointID
	for j := i + 1; i >= 0 && j < len(m.Points); j++ {
		if m.pinned(m.Points[j].ID) || g.refs[m.Points[j].ID] > 0 {
			busy = append(busy, m.Points[j].ID)
		}
	}
	g.mu.RUnlock()
	switch {
	case i < 0:
		return fmt.Errorf("%w: %s", ErrUnknownPoint, id)
	case i == len(m.Points)-1:
		return nil
	case len(busy) > 0:
		return fmt.Errorf("%w: rollback to %s would discard %v", ErrPinned, id, busy)
	}
	b, err := json.Marshal(&intent{Op: opRollback, Target: id})
	if err != nil {
		return err
	}
	if err := writeFileAtomic(g.fsys, g.dir, intentName, b); err != nil {
		removeIfExists(g.fsys, g.path(intentName))
		return fmt.Errorf("checkpoint: rollback: write intent: %w", err)
	}
	if err := g.rollbackLocked(ctx, i); err != nil {
		// The intent is durable: a reopen finishes the rollback.
		return g.fail(err)
	}
	// The intent's removal must be durable before anything else changes
	// the volumes: a stale intent would roll a later chain back to id.
	err = removeIfExists(g.fsys, g.path(intentName))
	if err == nil {
		err = g.fsys.SyncDir(g.dir)
	}
	if err != nil {
		return g.fail(err)
	}
	g.log.Info("rolled back", "point", id)
	return nil
}

// rollbackLocked makes point i the live state and commits a chain ending
// at it. It holds the exclusive lock throughout, so no view of a point
// being discarded reads a half-written volume. The caller holds opMu.
func (g *dirGroup) rollbackLocked(ctx context.Context, i int) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	old := g.man
	k := len(old.Points) - 1
	logs := make([]*undoLog, 0, k-i)
	for j := i; j < k; j++ {
		l, err := g.logOf(old.Points[j].Undo)
		if err != nil {
			return err
		}
		logs = append(logs, l)
	}
	for j := len(logs) - 1; j >= 0; j-- {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := g.writeBack(logs[j].f, logs[j].ix); err != nil {
			return err
		}
	}
	if err := g.syncVolumes(); err != nil {
		return err
	}
	touched := make([]*delta.Set, len(g.geoms))
	for v, geo := range g.geoms {
		touched[v] = delta.NewSet(geo.Blocks())
		for j := i + 1; j <= k; j++ {
			if err := touched[v].Union(old.Points[j].Changed[v]); err != nil {
				return err
			}
		}
		if err := delta.UpdateHashes(ctx, g.hashes[v], g.vols[v], touched[v]); err != nil {
			return err
		}
	}
	target := old.Points[i]
	if root := delta.GroupRoot(g.hashes); root != target.Hash {
		return damaged(g.id, "undo", fmt.Sprintf("rolled-back content hash %s differs from point %s's %s", root, target.ID, target.Hash), nil)
	}
	m := old.clone()
	obsolete, _, err := g.persistHashes(m, touched)
	if err != nil {
		return err
	}
	m.Points = m.Points[:i+1]
	m.Points[i].Undo, m.Points[i].UndoSize, m.Points[i].UndoRecords = "", 0, 0
	b, err := m.encode()
	if err != nil {
		return err
	}
	if _, err := writeManifest(g.fsys, g.dir, b); err != nil {
		return err
	}
	g.man = m
	for _, l := range logs {
		g.dropLog(l.name)
		g.removeLog(l.name)
	}
	for _, name := range obsolete {
		removeIfExists(g.fsys, g.path(name))
	}
	// Not needed for correctness (see recover), but it keeps a reopen from
	// writing the target's stale log back for nothing.
	g.fsys.SyncDir(g.path("undo"))
	return nil
}
