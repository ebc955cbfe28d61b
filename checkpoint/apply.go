package checkpoint

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"path"

	"github.com/blockrep/blockrep/checkpoint/vfs"
	"github.com/blockrep/blockrep/delta"
)

const stagingName = "staging/incoming.delta"

// Apply implements Group.
//
// The steps and what each makes durable:
//
//  1. stage the stream to staging/ (not synced: recovery never reads it);
//  2. verify it whole — header against the group, every record, the
//     trailer — so nothing changes for a bad stream;
//  3. write intent.json (atomic, durable): from here a crash rolls back;
//  4. create the undo log, sync it and its directory;
//  5. per batch of records: append the old content of every block or page
//     they overwrite to the undo log, fsync it once, publish the batch to
//     readers, then write the new data (the undo is always durable before
//     the data it protects is overwritten);
//  6. fsync the volumes, write the new hash file (synced);
//  7. commit the manifest (temp, fsync, rename, fsync dir): the new point
//     exists; the undo log now belongs to the previous point;
//  8. remove the intent and the staging file, then prune.
func (g *dirGroup) Apply(ctx context.Context, r io.Reader) (ApplyResult, error) {
	g.opMu.Lock()
	defer g.opMu.Unlock()
	if err := g.usable(); err != nil {
		return ApplyResult{}, err
	}
	staged, size, err := g.stage(ctx, r)
	if err != nil {
		return ApplyResult{}, err
	}
	defer func() {
		staged.Close()
		removeIfExists(g.fsys, g.path(stagingName))
	}()
	h, res, done, err := g.check(ctx, staged, size)
	if err != nil || done {
		return res, err
	}
	pt, err := g.applyVerified(ctx, staged, size, h)
	if err != nil {
		return ApplyResult{}, err
	}
	res = ApplyResult{Point: pt}
	if res.Pruned, err = g.pruneLocked(ctx); err != nil {
		// The point is committed; a failed prune only keeps more points.
		g.log.Warn("prune after apply failed", "err", err)
	}
	return res, nil
}

// stage copies the stream to the staging file, bounded by what a stream for
// this group can hold, and returns it opened for reading.
func (g *dirGroup) stage(ctx context.Context, r io.Reader) (vfs.File, int64, error) {
	limit := g.maxStream()
	f, err := g.fsys.Create(g.path(stagingName))
	if err != nil {
		return nil, 0, fmt.Errorf("checkpoint: stage delta: %w", err)
	}
	n, err := io.Copy(f, io.LimitReader(&ctxReader{ctx: ctx, r: r}, limit+1))
	if err == nil && n > limit {
		err = fmt.Errorf("%w: delta stream exceeds %d bytes", delta.ErrLimit, limit)
	}
	if err != nil {
		f.Close()
		removeIfExists(g.fsys, g.path(stagingName))
		return nil, 0, fmt.Errorf("checkpoint: stage delta: %w", err)
	}
	return f, n, nil
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

// check decodes the header, recognises a replay, matches the header against
// the group and verifies the whole stream. done means res is the answer.
func (g *dirGroup) check(ctx context.Context, f vfs.File, size int64) (h *delta.Header, res ApplyResult, done bool, err error) {
	// The header is read with the format's own limits only, so a stream
	// for other volumes is reported as such rather than as past a limit.
	dec, err := delta.NewDecoder(io.NewSectionReader(f, 0, size), delta.WithMaxStreamBytes(g.maxStream()))
	if err != nil {
		return nil, res, false, fmt.Errorf("checkpoint: apply: %w", err)
	}
	defer dec.Close()
	h = dec.Header()
	g.mu.RLock()
	m := g.man
	g.mu.RUnlock()
	if h.Group != g.id {
		return nil, res, false, fmt.Errorf("%w: delta of group %q applied to %q", ErrBaseMismatch, h.Group, g.id)
	}
	if i := m.index(h.New); i >= 0 {
		g.log.Info("replayed delta acknowledged", "point", h.New)
		return h, ApplyResult{Point: m.Points[i].Point, Replayed: true}, true, nil
	}
	var latest delta.PointID
	if l := m.latest(); l != nil {
		latest = l.ID
	}
	if h.Base != latest {
		return nil, res, false, fmt.Errorf("%w: delta base %s, latest point %s", ErrBaseMismatch, h.Base, latest)
	}
	if err := matchVolumes(h, m.Spec); err != nil {
		return nil, res, false, err
	}
	if err := ctx.Err(); err != nil {
		return nil, res, false, err
	}
	opts := append(g.decoderOptions(), delta.WithExpect(g.id, latest))
	if _, err := delta.Verify(&ctxReader{ctx: ctx, r: io.NewSectionReader(f, 0, size)}, opts...); err != nil {
		if errors.Is(err, delta.ErrMismatch) {
			err = fmt.Errorf("%w: %w", ErrBaseMismatch, err)
		}
		return nil, res, false, fmt.Errorf("checkpoint: apply: %w", err)
	}
	return h, res, false, nil
}

func (g *dirGroup) decoderOptions() []delta.DecoderOption {
	return []delta.DecoderOption{
		delta.WithMaxVolumes(len(g.geoms)),
		delta.WithMaxBlockSize(g.man.Spec.BlockSize),
		delta.WithMaxStreamBytes(g.maxStream()),
	}
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

// applyRun is the state of one apply after its intent is durable.
type applyRun struct {
	g        *dirGroup
	uw       *undoWriter
	log      *undoLog
	changed  []*delta.Set
	hashUndo []hashChange // previous live hashes, to restore on abort
	buf      []byte
	zero     []byte
}

type hashChange struct {
	vol   int
	block int64
	h     delta.Hash
}

func (g *dirGroup) applyVerified(ctx context.Context, staged vfs.File, size int64, h *delta.Header) (Point, error) {
	g.mu.RLock()
	old := g.man
	g.mu.RUnlock()
	m := old.clone()
	undoName := m.newFile("undo/", ".undo")
	hashName := m.newFile("hashes-", ".bin")
	in := &intent{Op: opApply, Base: h.Base, New: h.New, Undo: undoName, Hashes: hashName}
	ib, err := json.Marshal(in)
	if err != nil {
		return Point{}, err
	}
	if err := writeFileAtomic(g.fsys, g.dir, intentName, ib); err != nil {
		removeIfExists(g.fsys, g.path(intentName))
		return Point{}, fmt.Errorf("checkpoint: apply: write intent: %w", err)
	}
	run, err := g.startUndo(undoName)
	if err != nil {
		return Point{}, g.abortApply(nil, in, fmt.Errorf("checkpoint: apply: create undo log: %w", err))
	}
	pt, err := run.apply(ctx, staged, size, h, m, hashName)
	if err != nil {
		return Point{}, g.abortApply(run, in, err)
	}
	return pt, nil
}

// startUndo creates the undo log durably — file and directory entry — so
// that recovery finds it if any block was overwritten.
func (g *dirGroup) startUndo(name string) (*applyRun, error) {
	f, err := g.fsys.Create(g.path(name))
	if err != nil {
		return nil, err
	}
	uw, err := newUndoWriter(f, g.man.Spec.BlockSize, len(g.geoms))
	if err == nil {
		err = f.Sync()
	}
	if err == nil {
		err = g.fsys.SyncDir(g.path(path.Dir(name)))
	}
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
	for _, geo := range g.geoms {
		run.changed = append(run.changed, delta.NewSet(geo.Blocks()))
	}
	g.mu.Lock()
	g.inflight = run.log
	g.mu.Unlock()
	return run, nil
}

func (run *applyRun) apply(ctx context.Context, staged vfs.File, size int64, h *delta.Header, m *manifest, hashName string) (Point, error) {
	g := run.g
	dec, err := delta.NewDecoder(io.NewSectionReader(staged, 0, size), g.decoderOptions()...)
	if err != nil {
		return Point{}, err
	}
	defer dec.Close()
	batchMax := g.s.opts.batchBytes
	var batch []delta.Record
	var arena []byte
	for eof := false; !eof; {
		if err := ctx.Err(); err != nil {
			return Point{}, err
		}
		batch, arena = batch[:0], arena[:0]
		for len(arena) < batchMax {
			rec, err := dec.Next()
			if errors.Is(err, io.EOF) {
				eof = true
				break
			}
			if err != nil {
				return Point{}, err
			}
			r := *rec
			if r.Data != nil {
				// Data is only valid until Next: keep a copy in the arena.
				at := len(arena)
				arena = append(arena, r.Data...)
				r.Data = arena[at:len(arena):len(arena)]
			}
			r.Pages = append(delta.PageMask(nil), r.Pages...)
			if rec.Pages == nil {
				r.Pages = nil
			}
			batch = append(batch, r)
		}
		if len(batch) == 0 {
			break
		}
		if err := run.applyBatch(batch); err != nil {
			return Point{}, err
		}
	}
	// The new data is durable before the manifest says it exists.
	if err := g.syncVolumes(); err != nil {
		return Point{}, err
	}
	lists := g.hashes
	hb, err := encodeHashes(lists)
	if err != nil {
		return Point{}, err
	}
	if err := writeSynced(g.fsys, g.path(hashName), hb); err != nil {
		return Point{}, err
	}
	if _, err := run.uw.flush(); err != nil {
		return Point{}, err
	}
	pt := Point{
		ID: h.New, Base: h.Base, Time: h.Time, Applied: g.s.opts.now().UTC(),
		Consistency: h.Consistency, Size: size, Changed: run.changed, Hash: delta.GroupRoot(lists),
	}
	prev := m.latest()
	if prev != nil {
		prev.Undo, prev.UndoSize, prev.UndoRecords = run.log.name, run.uw.size, run.uw.ix.records
	}
	m.Points = append(m.Points, pointState{Point: pt})
	oldHashes := m.Hashes
	m.Hashes = hashName
	if len(h.Meta) > 0 {
		m.Spec.Meta = h.Meta
	}
	run.log.size, run.log.records = run.uw.size, run.uw.ix.records
	err = g.commit(m, func() {
		g.inflight = nil
		if prev != nil {
			g.logs[run.log.name] = run.log
			g.indexed.Add(run.log.records)
		}
	})
	if err != nil {
		return Point{}, err
	}
	// Committed: what follows is clean-up that a reopen would also do.
	if prev == nil {
		// The first point has no older point to return to.
		run.log.f.Close()
		removeIfExists(g.fsys, g.path(run.log.name))
	}
	removeIfExists(g.fsys, g.path(intentName))
	removeIfExists(g.fsys, g.path(oldHashes))
	g.log.Info("applied", "point", pt.ID, "blocks", pt.ChangedBlocks(), "bytes", size)
	return pt, nil
}

// applyBatch saves the old content of every block or page the batch
// overwrites, syncs the undo log, publishes the entries, then writes the
// new content and updates the live hash lists.
func (run *applyRun) applyBatch(batch []delta.Record) error {
	g := run.g
	for _, r := range batch {
		geo := g.geoms[r.Volume]
		for b := r.Block; b < r.Block+r.Count; b++ {
			off, blen := geo.BlockBounds(b)
			mask := normMask(r.Pages, geo.BlockPages(b))
			old := run.buf[:blen]
			if err := readFull(g.vols[r.Volume], old, off); err != nil {
				return err
			}
			run.uw.add(r.Volume, b, mask, pickPages(old, mask, geo.BlockPages(b)))
			run.changed[r.Volume].Add(b)
		}
	}
	entries, err := run.uw.flush()
	if err != nil {
		return err
	}
	if err := run.uw.f.Sync(); err != nil {
		return err
	}
	// Publishing under the exclusive lock is the barrier: a reader that
	// started before it finishes before it, a reader after it sees the
	// entries and reads these blocks from the undo log, not the live file.
	g.mu.Lock()
	for _, e := range entries {
		run.uw.ix.vols[e.vol][e.block] = e.e
		run.uw.ix.records++
	}
	g.mu.Unlock()
	for _, r := range batch {
		if err := run.write(r); err != nil {
			return err
		}
	}
	return nil
}

// pickPages returns the pages of mask from a whole block's content,
// concatenated (the block itself for a nil mask). It may reuse block.
func pickPages(block []byte, mask delta.PageMask, pages int) []byte {
	if mask == nil {
		return block
	}
	out := make([]byte, 0, maskBytes(mask, len(block)))
	for first, count := range maskRuns(mask, pages) {
		lo, hi := runBytes(len(block), first, count)
		out = append(out, block[lo:hi]...)
	}
	return out
}

// write writes one record's new content and rehashes its blocks.
func (run *applyRun) write(r delta.Record) error {
	g := run.g
	geo := g.geoms[r.Volume]
	vol := g.vols[r.Volume]
	for b := r.Block; b < r.Block+r.Count; b++ {
		off, blen := geo.BlockBounds(b)
		pages := geo.BlockPages(b)
		mask := normMask(r.Pages, pages)
		var content []byte // the block's new content when known without a read
		switch r.Kind {
		case delta.RecordData:
			if mask == nil {
				content = r.Data[:blen]
			}
			for first, count := range maskRuns(mask, pages) {
				lo, hi := runBytes(blen, first, count)
				at := maskRank(mask, first) * delta.PageSize
				if _, err := vol.WriteAt(r.Data[at:at+hi-lo], off+int64(lo)); err != nil {
					return err
				}
			}
		case delta.RecordZero:
			if mask == nil {
				content = run.zero[:blen]
			}
			for first, count := range maskRuns(mask, pages) {
				lo, hi := runBytes(blen, first, count)
				if _, err := vol.WriteAt(run.zero[:hi-lo], off+int64(lo)); err != nil {
					return err
				}
			}
		case delta.RecordCopy:
			sgeo := g.geoms[r.FromVolume]
			soff, slen := sgeo.BlockBounds(r.FromBlock)
			if slen != blen {
				return fmt.Errorf("%w: copy of a %d-byte block into a %d-byte block", delta.ErrCorrupt, slen, blen)
			}
			src := run.buf[:blen]
			if err := readFull(g.vols[r.FromVolume], src, soff); err != nil {
				return err
			}
			if _, err := vol.WriteAt(src, off); err != nil {
				return err
			}
			content = src
		default:
			return fmt.Errorf("%w: record kind %v", delta.ErrCorrupt, r.Kind)
		}
		if err := run.rehash(r.Volume, b, off, blen, content); err != nil {
			return err
		}
	}
	return nil
}

// rehash updates the live hash of one block from the volume, remembering
// the previous hash for an abort.
func (run *applyRun) rehash(v int, b, off int64, blen int, data []byte) error {
	g := run.g
	if data == nil {
		data = run.buf[:blen]
		if err := readFull(g.vols[v], data, off); err != nil {
			return err
		}
	}
	run.hashUndo = append(run.hashUndo, hashChange{v, b, g.hashes[v].Get(b)})
	g.hashes[v].Set(b, delta.HashBlock(data))
	return nil
}

// abortApply returns the live volumes to the committed point after a
// failed apply: write the published undo entries back, sync, drop the
// in-progress log and the intent. If that fails too, the group is failed
// and a reopen finishes the job from the durable intent and undo log.
func (g *dirGroup) abortApply(run *applyRun, in *intent, cause error) error {
	if errors.Is(cause, ErrFailed) {
		// The manifest was renamed in but not made durable: whether the
		// point exists is for the reopen to find out, from the disk.
		return cause
	}
	if errors.Is(cause, vfs.ErrCrashed) {
		// Nothing more can be written; the reopen recovers.
		return g.fail(cause)
	}
	if run != nil {
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
		for i := len(run.hashUndo) - 1; i >= 0; i-- {
			c := run.hashUndo[i]
			g.hashes[c.vol].Set(c.block, c.h)
		}
		g.mu.Lock()
		g.inflight = nil
		g.mu.Unlock()
		run.uw.f.Close()
		removeIfExists(g.fsys, g.path(run.log.name))
	}
	removeIfExists(g.fsys, g.path(in.Hashes))
	if err := removeIfExists(g.fsys, g.path(intentName)); err != nil {
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
