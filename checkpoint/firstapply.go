package checkpoint

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"

	"golang.org/x/sync/errgroup"

	"github.com/blockrep/blockrep/checkpoint/vfs"
	"github.com/blockrep/blockrep/delta"
)

// firstApplyName marks a first apply in progress: the group had no point
// and its volumes were zero when the marker became durable. It is created
// and synced, with its directory entry, before the apply writes a volume,
// and removed after the manifest commit. On opening, a marker in a group
// without points means the volumes hold part of an apply that did not
// commit: they are truncated back to zero (sparse) and synced before the
// marker is removed. A marker in a group with points is what is left of a
// committed first apply whose clean-up was lost, and is just removed.
const firstApplyName = "first-apply"

// firstEarlySync is how much a first apply writes between background
// syncs of the volumes, so that the sync before the commit has little left
// to flush.
const firstEarlySync = 64 << 20

// firstWriteback is how much a first apply writes between asking the
// kernel to start writing the new bytes out (startWriteback), so that the
// device works while the stream still arrives and the syncs wait on
// little.
const firstWriteback = 8 << 20

// writebackRanges collects the byte range of each volume written since
// the last startWriteback.
type writebackRanges struct {
	lo, hi  []int64
	pending int64
}

func newWritebackRanges(vols int) *writebackRanges {
	return &writebackRanges{lo: make([]int64, vols), hi: make([]int64, vols)}
}

// add notes that bytes [off, off+n) of volume vol were written.
func (w *writebackRanges) add(vol int, off, n int64) {
	if w.hi[vol] == w.lo[vol] {
		w.lo[vol], w.hi[vol] = off, off+n
	} else {
		w.lo[vol], w.hi[vol] = min(w.lo[vol], off), max(w.hi[vol], off+n)
	}
	w.pending += n
}

// start starts the write-out of every noted range once firstWriteback
// bytes are pending.
func (w *writebackRanges) start(vols []vfs.File) {
	if w.pending < firstWriteback {
		return
	}
	for v, f := range vols {
		startWriteback(f, w.lo[v], w.hi[v]-w.lo[v])
		w.lo[v], w.hi[v] = 0, 0
	}
	w.pending = 0
}

// applyFirst applies the first point of a group, whose volumes are all
// zero: there is nothing to undo, so it writes no undo log and does not
// stage the stream; it writes each record as soon as the decoder hands it
// out. A stream that fails verification half-way, a failed write or a
// crash is undone by zeroing the volumes again (see firstApplyName), so
// the group either still has no point with zero volumes or has the new
// point exactly.
func (g *dirGroup) applyFirst(ctx context.Context, r io.Reader) (ApplyResult, error) {
	limit := g.maxStream()
	cr := &countReader{r: io.LimitReader(&ctxReader{ctx: ctx, r: r}, limit+1)}
	dec, err := delta.NewDecoder(bufio.NewReaderSize(cr, readBuffer), delta.WithMaxStreamBytes(limit))
	if err != nil {
		return ApplyResult{}, fmt.Errorf("checkpoint: apply: %w", err)
	}
	defer dec.Close()
	h := dec.Header()
	if res, done, err := g.check(h); err != nil || done {
		// Read the rest as the staged path does, so that a stream that is
		// also corrupt reports its corruption first.
		if derr := drainRecords(dec); derr != nil {
			return ApplyResult{}, derr
		}
		return res, err
	}
	if err := g.markFirstApply(); err != nil {
		removeIfExists(g.fsys, g.path(firstApplyName))
		return ApplyResult{}, fmt.Errorf("checkpoint: apply: mark first apply: %w", err)
	}
	run := &applyRun{
		g:    g,
		buf:  make([]byte, g.man.Spec.BlockSize),
		zero: make([]byte, g.man.Spec.BlockSize),
	}
	readback := make([]*delta.Set, len(g.geoms))
	for i, geo := range g.geoms {
		run.changed = append(run.changed, delta.NewSet(geo.Blocks()))
		readback[i] = delta.NewSet(geo.Blocks())
	}
	g.mu.RLock()
	run.m = g.man.clone()
	g.mu.RUnlock()
	pt, err := run.writeFirst(ctx, dec, readback)
	if err == nil {
		pt.Size = cr.n
		err = run.commitFirst(pt, h)
	}
	if err != nil {
		return ApplyResult{}, g.abortFirst(run, err)
	}
	// Committed: a stale marker is harmless (see firstApplyName), so a
	// failed removal only logs.
	err = removeIfExists(g.fsys, g.path(firstApplyName))
	if err == nil {
		err = g.fsys.SyncDir(g.dir)
	}
	if err != nil {
		g.log.Warn("remove first-apply marker failed", "err", err)
	}
	g.log.Info("applied first point", "point", pt.ID, "blocks", pt.ChangedBlocks(), "bytes", pt.Size)
	return ApplyResult{Point: pt}, nil
}

// drainRecords reads dec to its end, returning the stream's corruption if
// it has one.
func drainRecords(dec *delta.Decoder) error {
	for {
		_, err := dec.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("checkpoint: apply: %w", err)
		}
	}
}

// markFirstApply makes the first-apply marker and its directory entry
// durable.
func (g *dirGroup) markFirstApply() error {
	if err := writeSynced(g.fsys, g.path(firstApplyName), nil); err != nil {
		return err
	}
	return g.fsys.SyncDir(g.dir)
}

// writeFirst writes every record of dec onto the zero volumes as it is
// decoded, keeps the live hash lists up to date and returns the point the
// stream describes once its trailer checked out and the volumes are
// synced and the new hashes are in the journal (or a new hash file) for
// the commit. readback collects the blocks whose new hash must be read back
// from the volume (pages and copies).
func (run *applyRun) writeFirst(ctx context.Context, dec *delta.Decoder, readback []*delta.Set) (Point, error) {
	g := run.g
	// At most one background sync runs at a time; none outlives this call.
	var early errgroup.Group
	defer early.Wait()
	// Decoding and verifying the next batch of records (on the batch
	// reader's goroutine) overlaps writing and hashing this one.
	rd := newBatchReader(ctx, dec, g.s.opts.batchBytes, g.man.Spec.BlockSize,
		[]*bufSlot{&g.s.arenaBuf[0], &g.s.arenaBuf[1]})
	defer rd.stop()
	written := 0
	wb := newWritebackRanges(len(g.vols))
	for b := range rd.full {
		for i := range b.recs {
			n, err := run.writeFirstRecord(&b.recs[i], readback, wb)
			if err != nil {
				return Point{}, err
			}
			written += n
		}
		rd.free <- b
		wb.start(g.vols)
		if written >= firstEarlySync {
			written = 0
			if err := early.Wait(); err != nil {
				return Point{}, err
			}
			early.Go(g.syncVolumes)
		}
	}
	if err := rd.err(); err != nil {
		// The stream failed verification (or ctx ended) part-way.
		return Point{}, fmt.Errorf("checkpoint: apply: %w", err)
	}
	if err := early.Wait(); err != nil {
		return Point{}, err
	}
	// The last sync runs while the blocks written in part are hashed and
	// the hashes made durable: the commit waits for all of it.
	early.Go(g.syncVolumes)
	for v, s := range readback {
		for b := range s.All() {
			off, blen := g.geoms[v].BlockBounds(b)
			run.jobs = append(run.jobs, hashJob{vol: v, block: b, off: off, blen: blen})
		}
	}
	if err := run.rehash(); err != nil {
		return Point{}, err
	}
	var err error
	run.obsolete, run.created, err = g.persistHashes(run.m, run.changed)
	if err != nil {
		return Point{}, err
	}
	if err := early.Wait(); err != nil {
		return Point{}, err
	}
	h := dec.Header()
	return Point{
		ID: h.New, Base: h.Base, Time: h.Time, Applied: g.s.opts.now().UTC(),
		Consistency: h.Consistency, Changed: run.changed, Hash: delta.GroupRoot(g.hashes),
	}, nil
}

// writeFirstRecord writes one record onto the volumes, notes what it
// wrote in wb and returns how many bytes it wrote. A block the apply has
// not written yet is zero, so zeroing it writes nothing.
func (run *applyRun) writeFirstRecord(r *delta.Record, readback []*delta.Set, wb *writebackRanges) (int, error) {
	g := run.g
	geo := g.geoms[r.Volume]
	changed := run.changed[r.Volume]
	written := 0
	for b := r.Block; b < r.Block+r.Count; b++ {
		_, blen := geo.BlockBounds(b)
		mask := normMask(r.Pages, geo.BlockPages(b))
		touched := changed.Contains(b)
		changed.Add(b)
		if r.Kind == delta.RecordZero && !touched {
			continue
		}
		one := *r
		one.Block, one.Count = b, 1
		if err := run.write(one); err != nil {
			return written, err
		}
		written += blen
		off, _ := geo.BlockBounds(b)
		wb.add(r.Volume, off, int64(blen))
		switch {
		case mask == nil && r.Kind == delta.RecordData:
			g.hashes[r.Volume].Set(b, delta.HashBlock(r.Data[:blen]))
			readback[r.Volume].Remove(b)
		case mask == nil && r.Kind == delta.RecordZero:
			g.hashes[r.Volume].Set(b, run.zeroHash(blen))
			readback[r.Volume].Remove(b)
		default:
			readback[r.Volume].Add(b)
		}
	}
	return written, nil
}

// commitFirst commits the manifest that names pt, the group's only
// point (writeFirst made the data and the hashes durable).
func (run *applyRun) commitFirst(pt Point, h *delta.Header) error {
	g := run.g
	m := run.m
	m.Points = append(m.Points, pointState{Point: pt})
	if len(h.Meta) > 0 {
		m.Spec.Meta = h.Meta
	}
	if err := g.commit(m, nil); err != nil {
		return err
	}
	for _, name := range run.obsolete {
		removeIfExists(g.fsys, g.path(name))
	}
	return nil
}

// abortFirst returns the volumes of a group without points to zero after
// a failed first apply, then removes the marker. If that fails too, the
// group is failed and a reopen finishes the job.
func (g *dirGroup) abortFirst(run *applyRun, cause error) error {
	if errors.Is(cause, ErrFailed) {
		// The manifest was renamed in but not made durable: whether the
		// point exists is for the reopen to find out, from the disk.
		return cause
	}
	if errors.Is(cause, vfs.ErrCrashed) {
		return g.fail(cause)
	}
	err := g.zeroVolumes()
	if err == nil {
		// The live hash lists were updated as blocks were written.
		err = g.loadHashes()
	}
	if err == nil {
		for _, name := range run.created {
			removeIfExists(g.fsys, g.path(name))
		}
		err = removeIfExists(g.fsys, g.path(firstApplyName))
	}
	if err == nil {
		err = g.fsys.SyncDir(g.dir)
	}
	if err != nil {
		g.fail(err)
		return fmt.Errorf("%w (and zeroing the volumes failed: %w)", cause, err)
	}
	return cause
}

// zeroVolumes truncates every live volume to nothing and back to its size
// (sparse zeros) and syncs it.
func (g *dirGroup) zeroVolumes() error {
	for i, f := range g.vols {
		if err := f.Truncate(0); err != nil {
			return err
		}
		if err := f.Truncate(g.geoms[i].Size); err != nil {
			return err
		}
		if err := f.Sync(); err != nil {
			return err
		}
	}
	return nil
}

// firstApplyPending reports whether the group has no point and a
// first-apply marker: its volumes are to be zeroed, whatever their size.
func (g *dirGroup) firstApplyPending() bool {
	if len(g.man.Points) > 0 {
		return false
	}
	_, err := g.fsys.Stat(g.path(firstApplyName))
	return err == nil
}

// recoverFirstApply finishes what a first-apply marker says: see
// firstApplyName.
func (g *dirGroup) recoverFirstApply() error {
	_, err := g.fsys.Stat(g.path(firstApplyName))
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return damaged(g.id, firstApplyName, "cannot stat", err)
	}
	if len(g.man.Points) == 0 {
		if err := g.zeroVolumes(); err != nil {
			return fmt.Errorf("checkpoint: group %q: zero volumes of an interrupted first apply: %w", g.id, err)
		}
		g.recovered.Op, g.recovered.Outcome = opApply, "rolled back"
		g.log.Warn("rolled back an interrupted first apply")
	}
	if err := removeIfExists(g.fsys, g.path(firstApplyName)); err != nil {
		return err
	}
	return g.fsys.SyncDir(g.dir)
}
