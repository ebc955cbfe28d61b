package checkpoint

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"

	"github.com/blockrep/blockrep/delta"
)

// recover finishes what a crash interrupted, as the intent file says.
//
//   - apply, new point not committed: the live volumes may hold some new
//     blocks; every one of them has its old content in the undo log, made
//     durable before the block was written. Writing the log back returns
//     the volumes to the committed latest point. A torn tail of the log is
//     harmless: its blocks were never overwritten.
//   - apply, committed: only the clean-up (intent, staging) remains.
//   - rollback: rolling back is idempotent (the undo logs are unchanged
//     until the manifest commit), so it is simply done again.
func (g *dirGroup) recover(ctx context.Context) error {
	b, err := readFileLimited(g.fsys, g.path(intentName), maxIntentSize)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return damaged(g.id, intentName, "unreadable", err)
	}
	in, err := decodeIntent(b, g.man.NextFile)
	if err != nil {
		return damaged(g.id, intentName, "malformed", err)
	}
	g.recovered.Op = in.Op
	switch in.Op {
	case opApply:
		if g.man.index(in.New) >= 0 {
			g.recovered.Outcome = "completed"
			break
		}
		if err := g.undoInterrupted(in); err != nil {
			return err
		}
		g.recovered.Outcome = "rolled back"
		g.log.Warn("rolled back an interrupted apply", "point", in.New)
	case opRollback:
		if g.man.index(in.Target) < 0 {
			return damaged(g.id, intentName, fmt.Sprintf("rollback target %s not in the chain", in.Target), nil)
		}
		if l := g.man.latest(); l.ID != in.Target {
			if err := g.rollbackLocked(ctx, g.man.index(in.Target)); err != nil {
				return err
			}
		}
		g.recovered.Outcome = "completed"
		g.log.Warn("completed an interrupted rollback", "point", in.Target)
	}
	if err := removeIfExists(g.fsys, g.path(intentName)); err != nil {
		return err
	}
	return g.fsys.SyncDir(g.dir)
}

// undoInterrupted writes an uncommitted apply's undo log back onto the live
// volumes and syncs them.
func (g *dirGroup) undoInterrupted(in *intent) error {
	f, err := g.fsys.Open(g.path(in.Undo))
	if errors.Is(err, fs.ErrNotExist) {
		// The log is made durable (with its directory entry) before any
		// block is written, so no log means no block was written.
		return nil
	}
	if err != nil {
		return damaged(g.id, in.Undo, "cannot open undo log of an interrupted apply", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return damaged(g.id, in.Undo, "cannot stat undo log of an interrupted apply", err)
	}
	ix, _, err := readUndoLog(f, st.Size(), g.geoms, g.man.Spec.BlockSize, true)
	if err != nil {
		return damaged(g.id, in.Undo, "cannot read undo log of an interrupted apply", err)
	}
	if err := g.writeBack(f, ix); err != nil {
		return fmt.Errorf("checkpoint: group %q: roll back interrupted apply: %w", g.id, err)
	}
	return g.syncVolumes()
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
