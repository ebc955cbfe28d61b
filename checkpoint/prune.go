package checkpoint

import (
	"context"
	"fmt"
	"path"
	"slices"

	"github.com/blockrep/blockrep/delta"
)

// Prune implements Group.
func (g *dirGroup) Prune(ctx context.Context) ([]delta.PointID, error) {
	g.opMu.Lock()
	defer g.opMu.Unlock()
	if err := g.usable(); err != nil {
		return nil, err
	}
	return g.pruneLocked(ctx)
}

// pruneLocked removes, oldest first, every point retention does not keep
// and nothing holds (a pin or an open view or clone). Each removal is its
// own crash-safe step: new files first, then the manifest commit, then
// deleting the files the commit stopped naming.
func (g *dirGroup) pruneLocked(ctx context.Context) ([]delta.PointID, error) {
	var pruned []delta.PointID
	for {
		if err := ctx.Err(); err != nil {
			return pruned, err
		}
		g.mu.RLock()
		m := g.man
		keep := m.retained()
		victim := -1
		for i, p := range m.Points {
			if !keep[i] && !m.pinned(p.ID) && g.refs[p.ID] == 0 {
				victim = i
				break
			}
		}
		g.mu.RUnlock()
		if victim < 0 {
			return pruned, nil
		}
		id := m.Points[victim].ID
		if err := g.removePoint(ctx, victim, ""); err != nil {
			return pruned, fmt.Errorf("checkpoint: prune point %s: %w", id, err)
		}
		pruned = append(pruned, id)
	}
}

// removePoint removes point j (not the latest). Views of older points read
// through j's undo log, so for j > 0 the logs of j-1 and j are merged into
// one that turns j+1 into j-1: for every page, j-1's own log when it saved
// the page (the older content), else j's log (the page did not change from
// j-1 to j, so j's saved content is j-1's). The block sets of j fold into
// j+1's, so ChangedBlocks across the gap stays right. A holder other
// than "" is a pin of j released in the same commit (Unpin).
func (g *dirGroup) removePoint(ctx context.Context, j int, holder string) error {
	old := g.man
	m := old.clone()
	var dropped []string
	var merged *undoLog
	if j > 0 {
		a, err := g.loadLog(old.Points[j-1].Undo)
		if err != nil {
			return err
		}
		b, err := g.loadLog(old.Points[j].Undo)
		if err != nil {
			return err
		}
		name := m.newFile("undo/", ".undo")
		if merged, err = g.mergeLogs(ctx, name, a, b); err != nil {
			removeIfExists(g.fsys, g.path(name))
			return err
		}
		prev := &m.Points[j-1]
		prev.Undo, prev.UndoSize, prev.UndoRecords = name, merged.size, merged.records
		dropped = append(dropped, old.Points[j-1].Undo)
	}
	next := &m.Points[j+1]
	for v, s := range m.Points[j].Changed {
		if err := next.Changed[v].Union(s); err != nil {
			return err
		}
	}
	dropped = append(dropped, old.Points[j].Undo)
	id := old.Points[j].ID
	m.Points = slices.Delete(m.Points, j, j+1)
	if m.DropBefore == id {
		m.DropBefore = m.Points[j].ID // the points older than j+1 are those older than j
	}
	if holder != "" {
		m.Pins = slices.DeleteFunc(m.Pins, func(p Pin) bool { return p.Point == id && p.Holder == holder })
	}
	err := g.commit(m, func() {
		for _, name := range dropped {
			g.dropLog(name)
		}
		if merged != nil {
			g.logs[merged.name] = merged
			g.indexed.Add(merged.records)
		}
	})
	if err != nil {
		if merged != nil {
			merged.f.Close()
			if g.usable() == nil {
				g.removeLog(merged.name)
			}
		}
		return err
	}
	for _, name := range dropped {
		g.removeLog(name)
	}
	g.log.Info("pruned", "point", old.Points[j].ID)
	return nil
}

func (g *dirGroup) loadLog(name string) (*undoLog, error) {
	g.mu.RLock()
	defer g.mu.RUnlock()
	return g.logOf(name)
}

// mergeLogs writes the merge of older log a and newer log b (see
// removePoint) as a new, synced log.
func (g *dirGroup) mergeLogs(ctx context.Context, name string, a, b *undoLog) (*undoLog, error) {
	f, err := g.fsys.Create(g.path(name))
	if err != nil {
		return nil, err
	}
	fail := func(err error) (*undoLog, error) {
		f.Close()
		return nil, err
	}
	uw, err := newUndoWriter(f, g.man.Spec.BlockSize, len(g.geoms), undoIDs{})
	if err != nil {
		return fail(err)
	}
	bufA := make([]byte, g.man.Spec.BlockSize)
	bufB := make([]byte, g.man.Spec.BlockSize)
	out := make([]byte, 0, g.man.Spec.BlockSize)
	for v, geo := range g.geoms {
		blocks := make([]int64, 0, len(a.ix.vols[v])+len(b.ix.vols[v]))
		for blk := range a.ix.vols[v] {
			blocks = append(blocks, blk)
		}
		for blk := range b.ix.vols[v] {
			if _, ok := a.ix.vols[v][blk]; !ok {
				blocks = append(blocks, blk)
			}
		}
		slices.Sort(blocks)
		for _, blk := range blocks {
			if err := ctx.Err(); err != nil {
				return fail(err)
			}
			_, blen := geo.BlockBounds(blk)
			pages := geo.BlockPages(blk)
			ea, okA := a.ix.get(v, blk)
			eb, okB := b.ix.get(v, blk)
			var dataA, dataB []byte
			if okA {
				dataA = bufA[:maskBytes(ea.mask, blen)]
				if err := readFull(a.f, dataA, ea.off); err != nil {
					return fail(err)
				}
			}
			if okB {
				dataB = bufB[:maskBytes(eb.mask, blen)]
				if err := readFull(b.f, dataB, eb.off); err != nil {
					return fail(err)
				}
			}
			var mask delta.PageMask
			switch {
			case okA && okB:
				mask = unionMask(ea.mask, eb.mask, pages)
			case okA:
				mask = ea.mask
			default:
				mask = eb.mask
			}
			out = out[:0]
			for p := range mask.All(pages) {
				lo, hi := pageSpan(blen, p)
				if okA && ea.mask.Has(p) {
					at := maskRank(ea.mask, p) * delta.PageSize
					out = append(out, dataA[at:at+hi-lo]...)
				} else {
					at := maskRank(eb.mask, p) * delta.PageSize
					out = append(out, dataB[at:at+hi-lo]...)
				}
			}
			uw.add(v, blk, mask, out)
			if len(uw.buf) >= g.s.opts.batchBytes {
				if err := uw.flushTo(); err != nil {
					return fail(err)
				}
			}
		}
	}
	if err := uw.flushTo(); err != nil {
		return fail(err)
	}
	if err := f.Sync(); err != nil {
		return fail(err)
	}
	if err := g.writeIndex(name, uw.ix, uw.size); err != nil {
		return fail(err)
	}
	// The manifest will name this file: its directory entry (and its
	// index's) must be durable before that commit.
	if err := g.fsys.SyncDir(g.path(path.Dir(name))); err != nil {
		return fail(err)
	}
	l := &undoLog{name: name, size: uw.size, records: uw.ix.records, f: f, ix: uw.ix}
	l.ready.Store(true)
	return l, nil
}
