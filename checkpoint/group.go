package checkpoint

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/blockrep/blockrep/checkpoint/vfs"
	"github.com/blockrep/blockrep/delta"
)

// dirGroup is the Group of a DirStore.
//
// Locking: opMu serialises the operations that change the store (apply,
// prune, rollback, pins, clones, meta). mu guards the in-memory state that
// readers use; views hold it shared for each read, writers take it
// exclusively only to publish a change (a batch of undo entries, a commit).
type dirGroup struct {
	s    *DirStore
	fsys vfs.FS
	id   string
	dir  string
	log  *slog.Logger

	opMu sync.Mutex

	mu        sync.RWMutex
	man       *manifest
	geoms     []delta.Geometry
	vols      []vfs.File
	hashes    []*delta.HashList // of the live volumes; changed under opMu
	logs      map[string]*undoLog
	inflight  *undoLog // undo log of the apply in progress, published batch by batch
	refs      map[delta.PointID]int
	clones    map[string]*dirClone
	recovered Recovery
	closed    bool
	failed    error

	indexed atomic.Int64 // undo index entries loaded, bounded by opts.maxIndex
}

var _ Group = (*dirGroup)(nil)

// undoLog is one undo log file, indexed lazily on first use.
type undoLog struct {
	name    string
	size    int64
	records int64

	mu    sync.Mutex // serialises loading
	ready atomic.Bool
	f     vfs.File
	ix    *undoIndex
	err   error // sticky damage
}

func (g *dirGroup) path(name string) string { return path.Join(g.dir, name) }

// openGroup loads a group, checks every file the manifest names and
// recovers an interrupted operation.
func openGroup(ctx context.Context, s *DirStore, id string) (*dirGroup, error) {
	g := &dirGroup{
		s: s, fsys: s.fsys, id: id, dir: s.groupDir(id),
		log:    s.opts.logger.With("group", id),
		logs:   make(map[string]*undoLog),
		refs:   make(map[delta.PointID]int),
		clones: make(map[string]*dirClone),
	}
	if err := g.load(ctx); err != nil {
		g.closeFiles()
		return nil, err
	}
	return g, nil
}

func (g *dirGroup) load(ctx context.Context) error {
	b, err := readFileLimited(g.fsys, g.path(manifestName), maxManifestSize)
	if errors.Is(err, fs.ErrNotExist) {
		return damaged(g.id, manifestName, "missing", nil)
	}
	if err != nil {
		return damaged(g.id, manifestName, "unreadable", err)
	}
	m, err := decodeManifest(b, g.id)
	if err != nil {
		return damaged(g.id, manifestName, "malformed", err)
	}
	g.man = m
	g.geoms = m.Spec.Geometries()
	for i, geo := range g.geoms {
		name := volumeName(i)
		f, err := g.fsys.OpenFile(g.path(name), os.O_RDWR, 0)
		if err != nil {
			return damaged(g.id, name, "cannot open volume", err)
		}
		g.vols = append(g.vols, f)
		st, err := f.Stat()
		if err != nil {
			return damaged(g.id, name, "cannot stat volume", err)
		}
		if st.Size() != geo.Size && !g.firstApplyPending() {
			// (A first apply that did not commit may have left a volume
			// truncated half-way to zero: recoverFirstApply resizes it.)
			return damaged(g.id, name, fmt.Sprintf("volume is %d bytes, want %d", st.Size(), geo.Size), nil)
		}
	}
	if err := g.loadHashes(); err != nil {
		return err
	}
	for _, p := range m.Points[:max(len(m.Points)-1, 0)] {
		st, err := g.fsys.Stat(g.path(p.Undo))
		if err != nil {
			return damaged(g.id, p.Undo, "undo log missing", err)
		}
		if st.Size() != p.UndoSize {
			return damaged(g.id, p.Undo, fmt.Sprintf("undo log is %d bytes, want %d (truncated or overwritten)", st.Size(), p.UndoSize), nil)
		}
		g.logs[p.Undo] = &undoLog{name: p.Undo, size: p.UndoSize, records: p.UndoRecords}
	}
	if err := g.recover(ctx); err != nil {
		return err
	}
	if err := g.collectGarbage(); err != nil {
		return err
	}
	if l := g.man.latest(); l != nil {
		g.recovered.Point = l.ID
	}
	return nil
}

// anyFile accepts any sequence number in checkFileName: for recognising
// this package's leftovers, whatever manifest drew their numbers.
const anyFile = ^uint64(0)

// loadHashes reads the committed block hash lists of the live volumes:
// the hash file, then the committed part of the journal.
func (g *dirGroup) loadHashes() error {
	m := g.man
	hb, err := readFileLimited(g.fsys, g.path(m.Hashes), maxHashFileSize(g.geoms))
	if err != nil {
		return damaged(g.id, m.Hashes, "unreadable", err)
	}
	if g.hashes, err = decodeHashes(hb, g.geoms); err != nil {
		return damaged(g.id, m.Hashes, "malformed", err)
	}
	return g.loadHashLog()
}

// loadHashLog replays the committed part of the hash journal onto the
// hash lists.
func (g *dirGroup) loadHashLog() error {
	m := g.man
	f, err := g.fsys.Open(g.path(m.HashLog))
	if err != nil {
		return damaged(g.id, m.HashLog, "hash journal missing", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return damaged(g.id, m.HashLog, "cannot stat hash journal", err)
	}
	if st.Size() < m.HashLogSize {
		return damaged(g.id, m.HashLog, fmt.Sprintf("hash journal is %d bytes, %d committed (truncated)", st.Size(), m.HashLogSize), nil)
	}
	b := make([]byte, m.HashLogSize) // bounded by decodeManifest
	if err := readFull(f, b, 0); err != nil {
		return damaged(g.id, m.HashLog, "unreadable", err)
	}
	if err := replayHashLog(b, g.hashes); err != nil {
		return damaged(g.id, m.HashLog, "malformed", err)
	}
	return nil
}

// collectGarbage removes files no committed state refers to: leftovers of
// an interrupted apply, prune or commit. Only names this package generates
// in its own sub-directories are touched.
func (g *dirGroup) collectGarbage() error {
	keep := map[string]bool{g.man.Hashes: true, g.man.HashLog: true}
	for _, p := range g.man.Points {
		if p.Undo != "" {
			keep[p.Undo] = true
			keep[indexName(p.Undo)] = true
		}
	}
	var dirty []string
	for _, dir := range []string{"undo", "staging", "."} {
		ents, err := g.fsys.ReadDir(g.path(dir))
		if err != nil {
			return damaged(g.id, dir, "cannot list", err)
		}
		for _, e := range ents {
			name := path.Join(dir, e.Name())
			switch {
			case e.IsDir() || keep[name]:
				continue
			case dir == "." && !(e.Name() == manifestName+".tmp" || e.Name() == intentName+".tmp" ||
				checkFileName(e.Name(), "hashes-", ".bin", anyFile) == nil ||
				checkFileName(e.Name(), "hashlog-", ".bin", anyFile) == nil):
				continue
			}
			if err := removeIfExists(g.fsys, g.path(name)); err != nil {
				return err
			}
			dirty = append(dirty, dir)
		}
	}
	for _, dir := range slices.Compact(dirty) {
		if err := g.fsys.SyncDir(g.path(dir)); err != nil {
			return err
		}
	}
	return nil
}

// usable reports why the group cannot be used, if it cannot. Callers hold mu.
func (g *dirGroup) usableLocked() error {
	switch {
	case g.closed:
		return ErrClosed
	case g.failed != nil:
		return g.failed
	}
	return nil
}

func (g *dirGroup) usable() error {
	g.mu.RLock()
	defer g.mu.RUnlock()
	return g.usableLocked()
}

// fail marks the group unusable until reopen after a failure that left the
// in-memory state unsure.
func (g *dirGroup) fail(err error) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.failed == nil {
		g.failed = fmt.Errorf("%w: %w", ErrFailed, err)
		g.log.Error("group needs reopen", "err", err)
	}
	return g.failed
}

// commit makes m the committed manifest, then runs swap under the
// exclusive lock so readers see the new state at once. If the manifest was
// renamed in but not synced, the in-memory state is unsure and the group is
// failed until reopen.
func (g *dirGroup) commit(m *manifest, swap func()) error {
	m.settleDropBefore()
	b, err := m.encode()
	if err != nil {
		return err
	}
	renamed, err := writeManifest(g.fsys, g.dir, b)
	if err != nil {
		if renamed {
			return g.fail(err)
		}
		return err
	}
	g.mu.Lock()
	g.man = m
	if swap != nil {
		swap()
	}
	g.mu.Unlock()
	return nil
}

// writeManifest is writeFileAtomic, telling whether the rename happened.
func writeManifest(fsys vfs.FS, dir string, b []byte) (renamed bool, err error) {
	tmp := path.Join(dir, manifestName+".tmp")
	f, err := fsys.Create(tmp)
	if err != nil {
		return false, err
	}
	_, err = f.Write(b)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return false, err
	}
	if err := fsys.Rename(tmp, path.Join(dir, manifestName)); err != nil {
		return false, err
	}
	return true, fsys.SyncDir(dir)
}

// logOf returns the indexed undo log name, loading it on first use.
// Callers hold mu (shared is enough).
func (g *dirGroup) logOf(name string) (*undoLog, error) {
	l := g.logs[name]
	if l == nil {
		return nil, damaged(g.id, name, "undo log not known", nil)
	}
	if l.ready.Load() {
		return l, nil
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.ready.Load() {
		return l, nil
	}
	if l.err != nil {
		return nil, l.err
	}
	f, err := g.fsys.Open(g.path(name))
	if err != nil {
		l.err = damaged(g.id, name, "cannot open undo log", err)
		return nil, l.err
	}
	ix := g.readIndex(l)
	if ix == nil {
		// No usable index: scan the log, checking every record.
		ix, _, err = readUndoLog(f, l.size, g.geoms, g.man.Spec.BlockSize, false)
		if err == nil && ix.records != l.records {
			err = fmt.Errorf("%d records, manifest says %d", ix.records, l.records)
		}
	}
	if err != nil {
		f.Close()
		l.err = damaged(g.id, name, "corrupt undo log", err)
		return nil, l.err
	}
	if g.indexed.Add(ix.records) > g.s.opts.maxIndex {
		// Not sticky: pruning may bring the total back under the limit.
		g.indexed.Add(-ix.records)
		f.Close()
		return nil, fmt.Errorf("%w: undo index entries exceed %d", delta.ErrLimit, g.s.opts.maxIndex)
	}
	l.f, l.ix = f, ix
	l.ready.Store(true)
	return l, nil
}

// readIndex returns the log's index file decoded, or nil if it is missing
// or does not match the log.
func (g *dirGroup) readIndex(l *undoLog) *undoIndex {
	b, err := readFileLimited(g.fsys, g.path(indexName(l.name)), maxUndoIndexSize(l.records))
	if err != nil {
		return nil
	}
	ix, err := decodeUndoIndex(b, l.size, l.records, g.geoms)
	if err != nil {
		g.log.Warn("undo log index unusable, scanning the log", "log", l.name, "err", err)
		return nil
	}
	return ix
}

// dropLog forgets and closes an undo log. Callers hold mu exclusively.
func (g *dirGroup) dropLog(name string) {
	if l := g.logs[name]; l != nil {
		if l.ready.Load() {
			l.f.Close()
			g.indexed.Add(-l.ix.records)
		}
		delete(g.logs, name)
	}
}

// chain returns the undo logs a view of point i reads through: the logs of
// points i..latest-1, then the log of an apply in progress. Callers hold mu.
func (g *dirGroup) chain(i int) ([]*undoLog, error) {
	pts := g.man.Points
	out := make([]*undoLog, 0, len(pts)-i)
	for j := i; j < len(pts)-1; j++ {
		l, err := g.logOf(pts[j].Undo)
		if err != nil {
			return nil, err
		}
		out = append(out, l)
	}
	if g.inflight != nil {
		out = append(out, g.inflight)
	}
	return out, nil
}

func (g *dirGroup) closeFiles() {
	for _, f := range g.vols {
		f.Close()
	}
	g.vols = nil
	for name := range g.logs {
		g.dropLog(name)
	}
}

func (g *dirGroup) close() error {
	g.opMu.Lock()
	defer g.opMu.Unlock()
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.closed {
		return nil
	}
	g.closed = true
	for _, c := range g.clones {
		c.closeFiles()
	}
	g.closeFiles()
	return nil
}

func (g *dirGroup) closeForRemove() error {
	g.opMu.Lock()
	g.mu.RLock()
	busy := len(g.man.Pins) > 0 || len(g.refs) > 0 || len(g.clones) > 0
	g.mu.RUnlock()
	g.opMu.Unlock()
	if busy {
		return fmt.Errorf("%w: group %q has pins, open views or clones", ErrPinned, g.id)
	}
	return g.close()
}
