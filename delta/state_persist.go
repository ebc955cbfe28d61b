package delta

import (
	"cmp"
	"errors"
	"fmt"
	"io/fs"
	"math/bits"
	"slices"
	"sync"
)

// persister keeps a Tracker's state file: DRBD-style activity log records
// between checkpoints, a full dirty-set checkpoint on commit and close.
type persister struct {
	f StateFile

	mu           sync.Mutex // serializes log appends and checkpoints
	seq          uint64     // sequence (= log epoch) of the superblock in force
	extentBlocks int        // extent size of new epochs
	blobOff      int64      // start of the region in force
	logPos       int64      // end of the region in force: next log record
	// sbPending: the superblock in force was written by a lazy checkpoint
	// and no sync has made it durable yet, so the previous checkpoint's
	// region [prevBlobOff, prevEnd) may still be the one on disk.
	sbPending   bool
	prevBlobOff int64
	prevEnd     int64
	recs        []byte

	qmu   sync.Mutex    // guards queue
	queue []*logRequest // waiting for the next group commit
}

// logEpoch is the activity-log view Mark reads: which extents are already
// durable in the current epoch (hot), one bitmap a volume.
type logEpoch struct {
	seq     uint64
	extBits []uint // log2 of the bytes in one extent, per volume
	hot     []*bitmap
}

func newLogEpoch(t *Tracker, seq uint64, extentBlocks int) *logEpoch {
	e := &logEpoch{seq: seq, extBits: make([]uint, len(t.geoms)), hot: make([]*bitmap, len(t.geoms))}
	eb := int64(extentBlocks)
	for i, g := range t.geoms {
		e.extBits[i] = t.vols[i].blockBits + uint(bits.TrailingZeros64(uint64(eb)))
		e.hot[i] = newBitmap((g.Blocks() + eb - 1) / eb)
	}
	return e
}

// covers reports whether every extent of [off, off+n) is hot: the fast path
// of a persistent Mark, one atomic load per extent.
func (e *logEpoch) covers(vol int, off, n int64) bool {
	sh := e.extBits[vol]
	h := e.hot[vol]
	for x := off >> sh; x <= (off+n-1)>>sh; x++ {
		if !h.has(x) {
			return false
		}
	}
	return true
}

// maxRecordsPerSync bounds the log records one request carries (a huge
// Mark makes several).
const maxRecordsPerSync = 4096

// logRequest asks for extents of one volume to be logged in epoch log. Its
// result fields are written by the goroutine that flushed it, under p.mu.
type logRequest struct {
	log   *logEpoch
	vol   int
	exts  []int64
	done  bool
	retry bool
	err   error
}

// logExtents makes the extents of [off, off+n) that are not hot durable in
// s's epoch before Mark goes on. It reports retry when a checkpoint started
// a new epoch (or the tracker closed or failed) since Mark loaded s.
//
// Appends are group-committed: a Mark queues its request, then takes p.mu;
// if an earlier holder already wrote its records it is done, else it
// writes every queued request with one write and one sync. A failed write
// or sync leaves the extents cold and logPos unmoved, so a later Mark
// rewrites the same records; the Marks of that batch fail and their writes
// must not happen.
func (p *persister) logExtents(t *Tracker, s *trackState, vol int, off, n int64) (retry bool, err error) {
	e := s.log
	sh := e.extBits[vol]
	x1 := (off + n - 1) >> sh
	for x := off >> sh; x <= x1; {
		req := &logRequest{log: e, vol: vol}
		for ; x <= x1 && len(req.exts) < maxRecordsPerSync; x++ {
			if !e.hot[vol].has(x) {
				req.exts = append(req.exts, x)
			}
		}
		if len(req.exts) == 0 {
			continue
		}
		p.qmu.Lock()
		p.queue = append(p.queue, req)
		p.qmu.Unlock()
		p.mu.Lock()
		if !req.done {
			p.flushLocked(t)
		}
		retry, err := req.retry, req.err
		p.mu.Unlock()
		if retry || err != nil {
			return retry, err
		}
	}
	return false, nil
}

// flushLocked writes every queued request of the current epoch and syncs
// once; requests of another epoch are told to retry. p.mu is held, so the
// epoch cannot change meanwhile (checkpoints hold p.mu too).
func (p *persister) flushLocked(t *Tracker) {
	p.qmu.Lock()
	batch := p.queue
	p.queue = nil
	p.qmu.Unlock()
	cur := t.state.Load().log
	p.recs = p.recs[:0]
	live := batch[:0]
	for _, r := range batch {
		if r.log != cur {
			r.retry, r.done = true, true
			continue
		}
		for _, x := range r.exts {
			if !cur.hot[r.vol].has(x) {
				p.recs = appendStateRecord(p.recs, r.vol, cur.seq, x)
			}
		}
		live = append(live, r)
	}
	var err error
	if len(p.recs) > 0 {
		err = p.appendLog(t)
		if err == nil {
			p.logPos += int64(len(p.recs))
			for _, r := range live {
				for _, x := range r.exts {
					cur.hot[r.vol].setRange(x, x+1)
				}
			}
		}
	}
	for _, r := range live {
		r.err, r.done = err, true
	}
}

// appendLog writes p.recs at the end of the log and syncs. While the
// superblock in force is not durable (a lazy checkpoint), records that
// would overwrite the previous checkpoint's region wait for a sync first,
// and a failed sync fails the tracker: the superblock may have been dropped
// with it, and records of its epoch are worthless without it.
func (p *persister) appendLog(t *Tracker) error {
	wrap := func(err error) error { return fmt.Errorf("delta: tracker activity log: %w", err) }
	end := p.logPos + int64(len(p.recs))
	if p.sbPending && p.logPos < p.prevEnd && p.prevBlobOff < end {
		if err := p.f.Sync(); err != nil {
			return p.failed(t, t.state.Load(), wrap(err))
		}
		p.sbPending = false
	}
	if _, err := p.f.WriteAt(p.recs, p.logPos); err != nil {
		return wrap(err)
	}
	if err := p.f.Sync(); err != nil {
		if p.sbPending {
			return p.failed(t, t.state.Load(), wrap(err))
		}
		return wrap(err)
	}
	p.sbPending = false
	return nil
}

// checkpoint makes the dirty state durable as a new superblock: the current
// generation, plus extra (an outstanding Frozen) when given. clean marks a
// close: the tracker is closed afterwards. Otherwise a new log epoch starts.
// t.mu is held, so no Freeze runs meanwhile.
//
// A lazy checkpoint (Commit's) costs one sync: the blob, and the log
// records of the extents it carries into the new epoch, are written and
// synced, then the superblock is written and left for the next sync of the
// file — the next log append or checkpoint — to make durable. Until then
// the previous superblock may be the one on disk after a crash, so its
// region stays untouched (see place and flushLocked) and any failed sync
// fails the tracker: a failed fsync may have dropped the superblock. The
// previous checkpoint is a superset of the new one (Commit only cleans),
// so a crash in that window brings back the committed blocks as dirty,
// which only sends them again. The carried extents were hot in the old
// epoch, so the previous checkpoint's log covers them as well. An eager
// checkpoint (open, create, close) syncs twice and is durable on return.
//
// used, when not nil, is the Frozen being committed: the old epoch's hot
// extents holding a block of it or of the current generation are carried
// (logged hot in the new epoch with the blob), up to maxCarried of them, so
// that a host that keeps writing the same extents pays no log sync after a
// commit. Extents no longer written age out after one epoch.
//
// Why no mark falls between the checkpoint and the new epoch: the new state
// is published (one atomic store) before the dirty set is read. A Mark that
// re-checked the state before that store had finished its ORs, so its pages
// are in the set written here. A Mark that re-checks after it sees the new
// state and runs again: its extent is cold in the new epoch until this
// checkpoint's sync returned, so it takes the log path, which waits for
// p.mu — that is, until this checkpoint is done — and then logs the extent
// in the new epoch unless it was carried. A crash before the new superblock
// is durable recovers the old one, whose log has every extent marked in the
// old epoch.
func (p *persister) checkpoint(t *Tracker, extra *generation, clean bool, used *Frozen) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	lazy := used != nil && !clean
	old := t.state.Load()
	next := p.seq + 1
	ns := &trackState{gen: old.gen, err: ErrClosed}
	if !clean {
		ns = &trackState{gen: old.gen, log: newLogEpoch(t, next, p.extentBlocks)}
	}
	t.state.Store(ns)

	sets := make([]*Set, len(t.geoms))
	for vol, g := range t.geoms {
		sets[vol], _ = old.gen.blocks(g, t.vols[vol], vol)
		if extra != nil {
			fs, _ := extra.blocks(g, t.vols[vol], vol)
			if err := sets[vol].Union(fs); err != nil {
				panic(err) // same geometry by construction
			}
		}
	}
	var carried []carriedExtent
	if lazy && old.log != nil {
		carried = p.carry(old.log, used, sets)
	}
	blob := encodeStateBlob(t.geoms, sets)
	blobLen := int64(len(blob))
	recsLen := int64(len(carried)) * stateRecordSize
	blobOff := p.place(alignState(blobLen) + recsLen)
	logOff := alignState(blobOff + blobLen)
	sb := superblock{
		clean:        clean,
		seq:          next,
		extentBlocks: uint32(p.extentBlocks),
		nvol:         uint32(len(t.geoms)),
		blobOff:      uint64(blobOff),
		blobLen:      uint64(blobLen),
		logOff:       uint64(logOff),
		blobCRC:      crcOf(blob),
	}
	fail := func(err error) error {
		return fmt.Errorf("delta: tracker checkpoint: %w", err)
	}
	data := blob
	if len(carried) > 0 {
		data = make([]byte, logOff-blobOff, logOff-blobOff+recsLen)
		copy(data, blob)
		for _, c := range carried {
			data = appendStateRecord(data, c.vol, next, c.ext)
		}
	}
	// Until the superblock write starts, nothing in force has changed: on
	// error the old state (and epoch) simply goes on — unless the old
	// superblock was itself waiting for this sync.
	if _, err := p.f.WriteAt(data, blobOff); err != nil {
		t.state.Store(old)
		return fail(err)
	}
	if err := p.f.Sync(); err != nil {
		if p.sbPending {
			return p.failed(t, old, fail(err))
		}
		t.state.Store(old)
		return fail(err)
	}
	p.sbPending = false
	// From here the on-disk superblock may be either one, so no Mark may
	// succeed in either epoch until the tracker is reopened.
	if _, err := p.f.WriteAt(sb.marshal(), int64(next%2)*stateSlotSize); err != nil {
		return p.failed(t, old, fail(err))
	}
	if !lazy {
		if err := p.f.Sync(); err != nil {
			return p.failed(t, old, fail(err))
		}
	}
	p.prevBlobOff, p.prevEnd = p.blobOff, p.logPos
	p.seq, p.blobOff, p.logPos, p.sbPending = next, blobOff, logOff+recsLen, lazy
	for _, c := range carried {
		ns.log.hot[c.vol].setRange(c.ext, c.ext+1)
	}
	// Drop what lies past the new log (keeping the previous region while
	// it may still be the one in force). A failure leaves garbage the log
	// scan stops at (old epochs' records, or bytes without a valid record
	// checksum), so it is harmless and not reported.
	end := p.logPos
	if lazy {
		end = max(end, p.prevEnd)
	}
	_ = p.f.Truncate(end)
	return nil
}

// carriedExtent is one extent a lazy checkpoint logs hot in the new epoch.
type carriedExtent struct {
	vol int
	ext int64
}

// maxCarried bounds the extents one checkpoint carries into the new epoch
// (32 bytes each in the checkpoint's write).
const maxCarried = 4096

// carry lists the extents hot in epoch e that hold a block of the committed
// Frozen or of the current dirty sets, in volume and extent order.
func (p *persister) carry(e *logEpoch, f *Frozen, sets []*Set) []carriedExtent {
	var out []carriedExtent
	eb := int64(p.extentBlocks)
	for vol := range sets {
		first := len(out)
		for _, s := range []*Set{f.Blocks(vol), sets[vol]} {
			if s == nil {
				continue
			}
			for start, n := range s.Runs() {
				for x := start / eb; x <= (start+n-1)/eb; x++ {
					if e.hot[vol].has(x) {
						out = append(out, carriedExtent{vol: vol, ext: x})
					}
				}
				if len(out)-first > 2*maxCarried {
					break
				}
			}
		}
		vs := out[first:]
		slices.SortFunc(vs, func(a, b carriedExtent) int { return cmp.Compare(a.ext, b.ext) })
		out = append(out[:first], slices.Compact(vs)...)
		if len(out) >= maxCarried {
			return out[:maxCarried]
		}
	}
	return out
}

// place returns where a checkpoint writes n bytes: where they overlap
// neither the region in force nor, while the superblock in force is not
// yet durable, the previous checkpoint's region. A crash before the new
// superblock is durable falls back to those.
func (p *persister) place(n int64) int64 {
	lo, hi := p.blobOff, p.logPos
	if p.sbPending {
		lo, hi = min(lo, p.prevBlobOff), max(hi, p.prevEnd)
	}
	if stateDataStart+n <= lo {
		return stateDataStart
	}
	return alignState(hi)
}

func (p *persister) failed(t *Tracker, old *trackState, err error) error {
	t.state.Store(&trackState{gen: old.gen, err: fmt.Errorf("%w; close the tracker and open it again", err)})
	return err
}

// CreateTracker creates (or empties) the state file at path and returns a
// persistent Tracker with nothing dirty.
//
// A persistent tracker keeps a DRBD-style activity log: the volume is cut
// into extents of WithExtentBlocks blocks, and before the first write to an
// extent in an epoch its number is synced to the file. Each Frozen.Commit
// writes the full dirty set and starts a new epoch, with one sync; the
// extents of the old epoch that held a block of the committed set or of the
// dirty set stay hot in the new one (up to 4096 of them), so a host that
// keeps writing the same extents pays no log sync after a commit. Close
// writes the dirty set and marks the file clean. The file stays small: the set run-length encoded,
// 32 bytes a log record. Call it for a new volume, or after
// OpenTracker returned ErrTrackingLost — before resynchronizing, so that the
// writes made during the resynchronization are tracked. See
// CreateTrackerFile.
func CreateTracker(path string, geoms []Geometry, opts ...TrackerOption) (*Tracker, error) {
	if _, err := newTracker(geoms, opts); err != nil {
		return nil, err
	}
	f, err := CreateStateFile(path)
	if err != nil {
		return nil, fmt.Errorf("delta: create tracker state: %w", err)
	}
	t, err := CreateTrackerFile(f, geoms, opts...)
	if err != nil {
		f.Close()
		return nil, err
	}
	return t, nil
}

// CreateTrackerFile is CreateTracker on a StateFile the caller opened; the
// Tracker owns f from a successful return and closes it in Close.
func CreateTrackerFile(f StateFile, geoms []Geometry, opts ...TrackerOption) (*Tracker, error) {
	t, err := newTracker(geoms, opts)
	if err != nil {
		return nil, err
	}
	if err := f.Truncate(0); err != nil {
		return nil, fmt.Errorf("delta: create tracker state: %w", err)
	}
	t.state.Store(&trackState{gen: newGeneration(t.vols)})
	t.pers = &persister{f: f, extentBlocks: t.opts.extentBlocks, logPos: stateDataStart}
	if err := t.startPersistence(); err != nil {
		return nil, err
	}
	return t, nil
}

// OpenTracker opens the state file at path and returns a persistent Tracker
// whose dirty set is what was dirty when it stopped: exactly the saved set
// after a clean Close; after a crash, that of the last checkpoint plus every
// block of every extent logged since (a superset of what was written).
//
// Page masks are not persisted (the state stays small, one bit a block), so
// the blocks of a reopened tracker are dirty whole.
//
// When the file is missing, corrupt, or was written for other geometries,
// the error wraps ErrTrackingLost (and the cause) and no Tracker is
// returned: which blocks changed is unknown. The caller then creates a
// fresh one with CreateTracker and resynchronizes the volumes. An error
// reading the file (an I/O error, not bad content) does not wrap
// ErrTrackingLost: the file may still be good, so retrying is worthwhile.
func OpenTracker(path string, geoms []Geometry, opts ...TrackerOption) (*Tracker, error) {
	if _, err := newTracker(geoms, opts); err != nil {
		return nil, err
	}
	f, err := OpenStateFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%w: state file: %w", ErrTrackingLost, err)
	}
	if err != nil {
		return nil, fmt.Errorf("delta: open tracker state: %w", err)
	}
	t, err := OpenTrackerFile(f, geoms, opts...)
	if err != nil {
		f.Close()
		return nil, err
	}
	return t, nil
}

// OpenTrackerFile is OpenTracker on a StateFile the caller opened. On
// success the Tracker owns f; on error f stays open, so the caller may hand
// it to CreateTrackerFile.
func OpenTrackerFile(f StateFile, geoms []Geometry, opts ...TrackerOption) (*Tracker, error) {
	t, err := newTracker(geoms, opts)
	if err != nil {
		return nil, err
	}
	rs, err := readState(f, t.geoms)
	if err != nil {
		return nil, err
	}
	gen := newGeneration(t.vols)
	for vol := range t.geoms {
		gen.markBlocks(t.vols[vol], vol, rs.sets[vol])
	}
	t.state.Store(&trackState{gen: gen})
	t.pers = &persister{
		f:            f,
		seq:          rs.sb.seq,
		extentBlocks: t.opts.extentBlocks,
		blobOff:      int64(rs.sb.blobOff),
		logPos:       rs.logEnd,
	}
	if err := t.startPersistence(); err != nil {
		return nil, err
	}
	return t, nil
}

// startPersistence writes the first checkpoint, which marks the file in
// use (not clean) and starts the first log epoch.
func (t *Tracker) startPersistence() error {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.pers.checkpoint(t, nil, false, nil)
}
