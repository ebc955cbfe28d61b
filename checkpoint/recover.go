package checkpoint

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path"

	"github.com/blockrep/blockrep/delta"
)

// recover finishes what a crash interrupted.
//
//   - An undo log that no manifest names and whose header's base is the
//     latest point belongs to an apply that did not commit. The live
//     volumes may hold some of its new blocks; every one of them has its
//     old content in that log, made durable before the block was written.
//     Writing the log back returns the volumes to the committed latest
//     point. A torn tail of the log is harmless: its blocks were never
//     overwritten. (A stale log of the latest point left by a rollback
//     whose clean-up was lost holds the latest point's content too, so
//     writing it back changes nothing.)
//   - A rollback intent means a rollback did not commit. Rolling back is
//     idempotent (the undo logs are unchanged until the manifest commit),
//     so it is simply done again.
//
// Everything else the manifest does not name is garbage, removed later.
func (g *dirGroup) recover(ctx context.Context) error {
	if err := g.recoverFirstApply(); err != nil {
		return err
	}
	if err := g.undoInterrupted(); err != nil {
		return err
	}
	b, err := readFileLimited(g.fsys, g.path(intentName), maxIntentSize)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return damaged(g.id, intentName, "unreadable", err)
	}
	in, err := decodeIntent(b)
	if err != nil {
		return damaged(g.id, intentName, "malformed", err)
	}
	g.recovered.Op = in.Op
	i := g.man.index(in.Target)
	if i < 0 {
		return damaged(g.id, intentName, fmt.Sprintf("rollback target %s not in the chain", in.Target), nil)
	}
	if i != len(g.man.Points)-1 {
		if err := g.rollbackLocked(ctx, i); err != nil {
			return err
		}
	}
	g.recovered.Outcome = "completed"
	g.log.Warn("completed an interrupted rollback", "point", in.Target)
	if err := removeIfExists(g.fsys, g.path(intentName)); err != nil {
		return err
	}
	return g.fsys.SyncDir(g.dir)
}

// undoInterrupted rolls back every interrupted apply (there is at most one
// unless a recovery itself was interrupted) and makes the removal of its
// log durable.
func (g *dirGroup) undoInterrupted() error {
	ents, err := g.fsys.ReadDir(g.path("undo"))
	if err != nil {
		return damaged(g.id, "undo", "cannot list", err)
	}
	named := make(map[string]bool)
	for _, p := range g.man.Points {
		named[p.Undo] = true
	}
	removed := false
	for _, e := range ents {
		name := path.Join("undo", e.Name())
		if e.IsDir() || named[name] || checkFileName(name, "undo/", ".undo", anyFile) != nil {
			continue
		}
		rolled, err := g.undoLogOf(name)
		if err != nil {
			return err
		}
		if rolled {
			g.recovered.Op, g.recovered.Outcome = opApply, "rolled back"
			if err := removeIfExists(g.fsys, g.path(name)); err != nil {
				return err
			}
			removed = true
		}
	}
	if removed {
		return g.fsys.SyncDir(g.path("undo"))
	}
	return nil
}

// undoLogOf writes back an unnamed undo log if it is an interrupted apply's
// and reports whether it was.
func (g *dirGroup) undoLogOf(name string) (bool, error) {
	f, err := g.fsys.Open(g.path(name))
	if err != nil {
		return false, damaged(g.id, name, "cannot open undo log", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return false, damaged(g.id, name, "cannot stat undo log", err)
	}
	hdr := make([]byte, undoHeaderSize)
	n, _ := f.ReadAt(hdr, 0)
	ids, ok := parseUndoHeader(hdr[:n], g.man.Spec.BlockSize, len(g.geoms))
	var latest delta.PointID
	if l := g.man.latest(); l != nil {
		latest = l.ID
	}
	if !ok || ids.new.IsZero() || ids.base != latest {
		// A torn header (nothing was overwritten yet), a prune's merge,
		// or the log of an older point that became garbage.
		return false, nil
	}
	ix, _, err := readUndoLog(f, st.Size(), g.geoms, g.man.Spec.BlockSize, true)
	if err != nil {
		return false, damaged(g.id, name, "cannot read undo log of an interrupted apply", err)
	}
	if err := g.writeBack(f, ix); err != nil {
		return false, fmt.Errorf("checkpoint: group %q: roll back interrupted apply: %w", g.id, err)
	}
	if err := g.syncVolumes(); err != nil {
		return false, err
	}
	g.log.Warn("rolled back an interrupted apply", "point", ids.new, "blocks", ix.records)
	return true, nil
}

// writeBack writes every entry of an undo log onto the live volumes.
func (g *dirGroup) writeBack(src io.ReaderAt, ix *undoIndex) error {
	buf := make([]byte, g.man.Spec.BlockSize)
	for v, m := range ix.vols {
		geo := g.geoms[v]
		for block, e := range m {
			if err := g.writeBackEntry(src, v, geo, block, e, buf); err != nil {
				return err
			}
		}
	}
	return nil
}

func (g *dirGroup) writeBackEntry(src io.ReaderAt, v int, geo delta.Geometry, block int64, e undoEntry, buf []byte) error {
	off, blen := geo.BlockBounds(block)
	n := maskBytes(e.mask, blen)
	data := buf[:n]
	if _, err := src.ReadAt(data, e.off); err != nil {
		return err
	}
	for first, count := range maskRuns(e.mask, geo.BlockPages(block)) {
		lo, hi := runBytes(blen, first, count)
		at := maskRank(e.mask, first) * delta.PageSize
		if _, err := g.vols[v].WriteAt(data[at:at+hi-lo], off+int64(lo)); err != nil {
			return err
		}
	}
	return nil
}

func (g *dirGroup) syncVolumes() error {
	for _, f := range g.vols {
		if err := f.Sync(); err != nil {
			return err
		}
	}
	return nil
}
