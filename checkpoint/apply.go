package checkpoint

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"path"
	"slices"

	"golang.org/x/sync/errgroup"

	"github.com/blockrep/blockrep/checkpoint/vfs"
	"github.com/blockrep/blockrep/delta"
)

const stagingName = "staging/incoming.delta"

// maxBatchRecords bounds a batch of records that carry little data (zero
// and copy records).
const maxBatchRecords = 1 << 16

// readBuffer is the read-ahead on the staged stream: the decoder reads it
// in small pieces.
const readBuffer = 1 << 20

// Apply implements Group.
//
// The steps and what each makes durable:
//
//  1. read the stream once, verifying it whole — every record, the
//     trailer — while keeping its decoded records (in memory up to
//     WithStageMemory, the rest in staging/, written by a goroutine of its
//     own and not synced: recovery never reads it), then check its header
//     against the group; meanwhile, when the header matches, another
//     goroutine saves the current content of every block or page the
//     records overwrite into a new undo log (not synced; nothing has
//     changed yet, so the log only holds current content); a bad stream
//     changes nothing and its log is removed;
//  2. fsync the undo log and its directory, then publish its entries to
//     readers: from here a crash rolls back (the log is the intent), and
//     the undo is durable before any block it protects is overwritten;
//  3. per batch of staged records: write the new data, rehash the blocks,
//     while the volumes sync in the background, one sync after the other;
//  4. fsync the volumes once more and, at the same time, append the new
//     hashes to the hash journal (synced);
//  5. commit the manifest (temp, fsync, rename, fsync dir): the new point
//     exists; the undo log now belongs to the previous point;
//  6. remove the staging file and files the commit stopped naming, then
//     prune what needs a merge.
//
// The first point of a group takes another path, applyFirst: no undo log,
// no staging.
func (g *dirGroup) Apply(ctx context.Context, r io.Reader) (ApplyResult, error) {
	g.opMu.Lock()
	defer g.opMu.Unlock()
	if err := g.usable(); err != nil {
		return ApplyResult{}, err
	}
	g.mu.RLock()
	first := g.man.latest() == nil
	g.mu.RUnlock()
	if first {
		// Nothing to undo: see applyFirst.
		return g.applyFirst(ctx, r)
	}
	// A valid stream's records staged take about as much as the stream
	// can: no need to hold more stage memory than that.
	stageMem := int(min(int64(g.s.opts.stageMem), g.maxStream()))
	staged := newStagedStream(g.fsys, g.path(stagingName), stageMem, &g.s.stageBuf)
	defer staged.close()
	size, h, run, err := g.stage(ctx, r, staged)
	if run != nil {
		defer func() {
			g.s.undoBuf.give(run.uw.buf)
			run.uw.buf = nil
		}()
	}
	if err != nil {
		if run != nil {
			// Only the undo log was written, of blocks still as they were.
			return ApplyResult{}, g.abortApply(run, err)
		}
		return ApplyResult{}, err
	}
	res, done, err := g.check(h)
	if err != nil || done {
		return res, err
	}
	if run == nil {
		// stage saves the undo whenever check passes.
		return ApplyResult{}, fmt.Errorf("checkpoint: apply: no undo log for a delta that matches the group")
	}
	pt, pruned, err := run.apply(ctx, staged, size, h)
	if err != nil {
		return ApplyResult{}, g.abortApply(run, err)
	}
	res = ApplyResult{Point: pt, Pruned: pruned}
	more, err := g.pruneLocked(ctx)
	if err != nil {
		// The point is committed; a failed prune only keeps more points.
		g.log.Warn("prune after apply failed", "err", err)
	}
	res.Pruned = append(res.Pruned, more...)
	return res, nil
}

// stage verifies the stream while copying its decoded records to staged
// (memory or the staging file), bounded by what a stream for this group
// can hold, and returns the stream's size and header. The header is read
// with the format's own limits only, so a stream for other volumes is
// reported as such (by check) rather than as past a limit.
//
// When the header matches the group, stage also starts the apply: it
// creates the undo log and, on another goroutine, saves into it the
// current content of every block the records will overwrite, so that
// verifying the stream overlaps reading and writing the old content.
// Nothing in the volumes changes before the whole stream checked out, so
// the log only ever holds the blocks' current content: a reopen after a
// crash may write it back harmlessly. The log is neither synced nor
// published here (see applyRun.commitUndo).
func (g *dirGroup) stage(ctx context.Context, r io.Reader, staged *stagedStream) (int64, *delta.Header, *applyRun, error) {
	limit := g.maxStream()
	cr := &countReader{r: io.LimitReader(&ctxReader{ctx: ctx, r: r}, limit+1)}
	dec, err := delta.NewDecoder(bufio.NewReaderSize(cr, readBuffer), delta.WithMaxStreamBytes(limit))
	if err != nil {
		return 0, nil, nil, fmt.Errorf("checkpoint: apply: %w", err)
	}
	defer dec.Close()
	var run *applyRun
	if _, done, err := g.check(dec.Header()); err == nil && !done {
		run, err = g.beginApply(dec.Header())
		if err != nil {
			return 0, nil, nil, fmt.Errorf("checkpoint: apply: create undo log: %w", err)
		}
	}
	saves := make(chan delta.Record, 1024)
	saver := new(errgroup.Group)
	saver.Go(func() error {
		var err error
		for r := range saves {
			if err == nil {
				err = run.saveOld(r)
			}
		}
		if run != nil {
			// saveOld's background sync ends with the saver.
			if serr := run.undoSync.Wait(); err == nil {
				err = serr
			}
		}
		return err
	})
	err = g.decodeInto(dec, staged, run != nil, saves)
	close(saves)
	if serr := saver.Wait(); err == nil && serr != nil {
		err = fmt.Errorf("checkpoint: apply: save undo: %w", serr)
	}
	return cr.n, dec.Header(), run, err
}

// decodeInto reads and verifies every record of dec into staged, sending
// where each one writes to saves when save is set.
func (g *dirGroup) decodeInto(dec *delta.Decoder, staged *stagedStream, save bool, saves chan<- delta.Record) error {
	sw := &stageWriter{bw: staged}
	for {
		rec, err := dec.Next()
		if errors.Is(err, io.EOF) {
			// The trailer checked out: the whole stream is good.
			break
		}
		if err != nil {
			return fmt.Errorf("checkpoint: apply: %w", err)
		}
		if err := sw.write(rec); err != nil {
			return fmt.Errorf("checkpoint: stage delta: %w", err)
		}
		if save {
			where := delta.Record{Kind: rec.Kind, Volume: rec.Volume, Block: rec.Block, Count: rec.Count}
			if rec.Pages != nil {
				where.Pages = append(delta.PageMask(nil), rec.Pages...)
			}
			if rec.Kind == delta.RecordData && len(staged.last) == len(rec.Data) {
				// The staged copy of the data, for the saver to hash.
				where.Data = staged.last
			}
			saves <- where
		}
	}
	if err := sw.end(); err != nil {
		return fmt.Errorf("checkpoint: stage delta: %w", err)
	}
	return nil
}

// maxStream is the largest stream the group can receive: every block as
// raw data plus generous framing.
func (g *dirGroup) maxStream() int64 {
	var n int64
	for _, geo := range g.geoms {
		n += geo.Size + geo.Blocks()*64
	}
	return n + 4<<20
}

type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c *ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}

// check matches a verified stream's header against the group and
// recognises a replay. done means res is the answer.
func (g *dirGroup) check(h *delta.Header) (res ApplyResult, done bool, err error) {
	g.mu.RLock()
	m := g.man
	g.mu.RUnlock()
	if h.Group != g.id {
		return res, false, fmt.Errorf("%w: delta of group %q applied to %q", ErrBaseMismatch, h.Group, g.id)
	}
	if i := m.index(h.New); i >= 0 {
		g.log.Info("replayed delta acknowledged", "point", h.New)
		return ApplyResult{Point: m.Points[i].Point, Replayed: true}, true, nil
	}
	var latest delta.PointID
	if l := m.latest(); l != nil {
		latest = l.ID
	}
	if h.Base != latest {
		return res, false, fmt.Errorf("%w: delta base %s, latest point %s", ErrBaseMismatch, h.Base, latest)
	}
	if err := matchVolumes(h, m.Spec); err != nil {
		return res, false, err
	}
	return res, false, nil
}

func matchVolumes(h *delta.Header, spec GroupSpec) error {
	if h.BlockSize != spec.BlockSize {
		return fmt.Errorf("%w: block size %d, group has %d", ErrVolumeMismatch, h.BlockSize, spec.BlockSize)
	}
	if len(h.Volumes) != len(spec.Volumes) {
		return fmt.Errorf("%w: %d volumes, group has %d", ErrVolumeMismatch, len(h.Volumes), len(spec.Volumes))
	}
	for i, v := range h.Volumes {
		if v != spec.Volumes[i] {
			return fmt.Errorf("%w: volume %d is %q of %d bytes, group has %q of %d bytes",
				ErrVolumeMismatch, i, v.ID, v.Size, spec.Volumes[i].ID, spec.Volumes[i].Size)
		}
	}
	return nil
}

// applyRun is the state of one apply from the creation of its undo log.
type applyRun struct {
	g     *dirGroup
	m     *manifest // the manifest the apply commits
	uw    *undoWriter
	log   *undoLog
	saved []pendingEntry // undo records written, published by commitUndo
	// hashed holds the blocks whose new hash saveOld set (whole data
	// blocks staged in memory, zero blocks): the batches hash the others.
	hashed     []*delta.Set
	undoSync   errgroup.Group // saveOld's background sync of the log
	zeroHashes map[int]delta.Hash
	changed    []*delta.Set
	jobs       []hashJob // blocks of the current batch to rehash
	created    []string  // hash files written for the commit
	obsolete   []string  // hash files the commit stops naming (first apply)
	buf        []byte
	zero       []byte
}

// beginApply creates the undo log of the apply of a delta with header h.
func (g *dirGroup) beginApply(h *delta.Header) (*applyRun, error) {
	g.mu.RLock()
	old := g.man
	g.mu.RUnlock()
	m := old.clone()
	undoName := m.newFile("undo/", ".undo")
	run, err := g.startUndo(undoName, undoIDs{base: h.Base, new: h.New})
	if err != nil {
		removeIfExists(g.fsys, g.path(undoName))
		return nil, err
	}
	run.m = m
	return run, nil
}

// startUndo creates the undo log, not synced: commitUndo makes it and its
// directory entry durable before any block is overwritten.
func (g *dirGroup) startUndo(name string, ids undoIDs) (*applyRun, error) {
	f, err := g.fsys.Create(g.path(name))
	if err != nil {
		return nil, err
	}
	uw, err := newUndoWriter(f, g.man.Spec.BlockSize, len(g.geoms), ids)
	if err != nil {
		f.Close()
		return nil, err
	}
	run := &applyRun{
		g: g, uw: uw,
		log:  &undoLog{name: name, f: f, ix: uw.ix},
		buf:  make([]byte, g.man.Spec.BlockSize),
		zero: make([]byte, g.man.Spec.BlockSize),
	}
	run.log.ready.Store(true)
	uw.buf = g.s.undoBuf.take(g.s.opts.batchBytes + g.man.Spec.BlockSize + 64<<10)
	for _, geo := range g.geoms {
		run.changed = append(run.changed, delta.NewSet(geo.Blocks()))
		run.hashed = append(run.hashed, delta.NewSet(geo.Blocks()))
	}
	g.mu.Lock()
	g.inflight = run.log
	g.mu.Unlock()
	return run, nil
}

func (run *applyRun) apply(ctx context.Context, staged *stagedStream, size int64, h *delta.Header) (Point, []delta.PointID, error) {
	g := run.g
	m := run.m
	if err := run.commitUndo(); err != nil {
		return Point{}, nil, err
	}
	dec := staged.reader(g.geoms)
	// Reading the next batch of staged records overlaps with writing and
	// syncing this one. Records read back from the staging file are copied
	// into arenas of stageArena bytes each; those in memory are not.
	var arenas []*bufSlot
	if !dec.stable() {
		arenas = []*bufSlot{&g.s.arenaBuf[0], &g.s.arenaBuf[1]}
	}
	batch := g.s.opts.batchBytes
	rd := newArenaBatchReader(ctx, dec, batch, min(batch, stageArena), g.man.Spec.BlockSize, arenas)
	defer rd.stop()
	// The volumes sync in the background while the batches are written,
	// one sync after the other, so that the last sync has only what the
	// last one did not cover to flush. (An early sync is harmless: the
	// undo log is durable.) At most one sync runs at a time, and none
	// outlives this function; a delta without records writes nothing.
	var bg backgroundSync
	defer bg.wait()
	for b := range rd.full {
		if err := run.applyBatch(b.recs); err != nil {
			return Point{}, nil, err
		}
		rd.free <- b
		if err := bg.kick(g.syncVolumes); err != nil {
			return Point{}, nil, err
		}
	}
	if err := rd.err(); err != nil {
		return Point{}, nil, err
	}
	// The last writes are covered by a sync started after them.
	if err := bg.kickAfter(g.syncVolumes); err != nil {
		return Point{}, nil, err
	}
	// The new hashes go to the journal (synced) while the volumes sync:
	// the two are independent, and the commit waits for both. The new
	// data is durable before the manifest says it exists: the sync
	// started after the last batch covers every batch.
	obsolete, created, err := g.persistHashes(m, run.changed)
	run.created = created
	if werr := bg.wait(); err == nil {
		err = werr
	}
	if err != nil {
		return Point{}, nil, err
	}
	if _, err := run.uw.flush(); err != nil {
		return Point{}, nil, err
	}
	pt := Point{
		ID: h.New, Base: h.Base, Time: h.Time, Applied: g.s.opts.now().UTC(),
		Consistency: h.Consistency, Size: size, Changed: run.changed, Hash: delta.GroupRoot(g.hashes),
	}
	prev := m.latest()
	if prev != nil {
		prev.Undo, prev.UndoSize, prev.UndoRecords = run.log.name, run.uw.size, run.uw.ix.records
	}
	m.Points = append(m.Points, pointState{Point: pt})
	// Points retention drops from the old end of the chain go in the same
	// commit (dropping the oldest needs no merge): with the default
	// latest-only retention an apply costs one manifest commit.
	dropped := g.oldestPrunable(m)
	m.Points = m.Points[len(dropped):]
	logKept := prev != nil && !slices.ContainsFunc(dropped, func(d pointState) bool { return d.ID == prev.ID })
	if len(h.Meta) > 0 {
		m.Spec.Meta = h.Meta
	}
	run.log.size, run.log.records = run.uw.size, run.uw.ix.records
	if logKept {
		if err := g.writeIndex(run.log.name, run.uw.ix, run.uw.size); err != nil {
			return Point{}, nil, err
		}
	}
	err = g.commit(m, func() {
		g.inflight = nil
		for _, d := range dropped {
			g.dropLog(d.Undo)
		}
		if logKept {
			g.logs[run.log.name] = run.log
			g.indexed.Add(run.log.records)
		}
	})
	if err != nil {
		return Point{}, nil, err
	}
	// Committed: what follows is clean-up that a reopen would also do.
	if !logKept {
		// No older point is left to return to.
		run.log.f.Close()
		g.removeLog(run.log.name)
	}
	var ids []delta.PointID
	for _, d := range dropped {
		if d.Undo != run.log.name {
			g.removeLog(d.Undo)
		}
		ids = append(ids, d.ID)
	}
	for _, name := range obsolete {
		removeIfExists(g.fsys, g.path(name))
	}
	g.log.Info("applied", "point", pt.ID, "blocks", pt.ChangedBlocks(), "bytes", size, "pruned", len(ids))
	return pt, ids, nil
}

// oldestPrunable returns the longest run of points from the old end of
// m's chain, short of the latest, that retention does not keep and nothing
// holds.
func (g *dirGroup) oldestPrunable(m *manifest) []pointState {
	keep := m.retained()
	g.mu.RLock()
	defer g.mu.RUnlock()
	n := 0
	for n < len(m.Points)-1 && !keep[n] && !m.pinned(m.Points[n].ID) && g.refs[m.Points[n].ID] == 0 {
		n++
	}
	return append([]pointState(nil), m.Points[:n]...)
}

// abortApply returns the live volumes to the committed point after a
// failed apply: write the published undo entries back, sync, drop the
// in-progress log. If that fails too, the group is failed and a reopen
// finishes the job from the durable undo log.
func (g *dirGroup) abortApply(run *applyRun, cause error) error {
	if errors.Is(cause, ErrFailed) {
		// The manifest was renamed in but not made durable: whether the
		// point exists is for the reopen to find out, from the disk.
		return cause
	}
	if errors.Is(cause, vfs.ErrCrashed) {
		// Nothing more can be written; the reopen recovers.
		return g.fail(cause)
	}
	g.mu.RLock()
	ix := run.uw.ix
	g.mu.RUnlock()
	err := g.writeBack(run.uw.f, ix)
	if err == nil {
		err = g.syncVolumes()
	}
	if err != nil {
		g.fail(err)
		return fmt.Errorf("%w (and restoring failed: %w)", cause, err)
	}
	// The live hash lists were updated as blocks were written: read the
	// committed ones back (cheaper in memory than remembering every old
	// hash of a large apply).
	if err := g.loadHashes(); err != nil {
		g.fail(err)
		return fmt.Errorf("%w (and reloading the hashes failed: %w)", cause, err)
	}
	g.mu.Lock()
	g.inflight = nil
	g.mu.Unlock()
	run.uw.f.Close()
	// The volumes are back and synced: the log is no longer needed, and its
	// removal must be durable before another apply changes the volumes, or
	// a reopen after a later crash would write this stale log back.
	for _, name := range run.created {
		removeIfExists(g.fsys, g.path(name))
	}
	removeIfExists(g.fsys, g.path(indexName(run.log.name)))
	err = removeIfExists(g.fsys, g.path(run.log.name))
	if err == nil {
		err = g.fsys.SyncDir(g.path(path.Dir(run.log.name)))
	}
	if err != nil {
		g.fail(err)
	}
	return cause
}

// writeSynced creates name with data and syncs it.
func writeSynced(fsys vfs.FS, name string, data []byte) error {
	f, err := fsys.Create(name)
	if err != nil {
		return err
	}
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}
