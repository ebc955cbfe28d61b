package delta

import (
	"fmt"
	"io"
	"math/bits"
	"sync"
	"sync/atomic"
)

// Tracker records which pages of a group's volumes were written since the
// last freeze. Mark is lock-free and safe from any number of goroutines;
// Freeze, Commit, Restore and Close are serialized among themselves.
//
// Dirty state lives in one page-level bitmap per volume (bit set = page
// written), allocated in chunks on first touch. The block level is derived:
// a block is dirty when any of its pages is. A generation is the set of such
// bitmaps for all volumes; Freeze swaps in a fresh generation with one atomic
// pointer store, which is what makes a freeze atomic across the group.
type Tracker struct {
	geoms []Geometry
	vols  []trackedVol
	opts  trackerOptions

	// state is what Mark reads: the current generation, the activity-log
	// epoch of a persistent tracker, or the error every Mark returns.
	state atomic.Pointer[trackState]

	// gate makes the freeze instant clean: writers through BeginWrite hold
	// it shared around copy-before-write, Mark and their write; Freeze and
	// the end of a Frozen hold it exclusively, so no write straddles them.
	gate sync.RWMutex

	// mu serializes Freeze, Commit, Restore and Close.
	mu     sync.Mutex
	seq    uint64
	frozen atomic.Pointer[Frozen]

	readers []atomic.Pointer[attachedReader]

	pers *persister // nil for an in-memory tracker
}

type trackedVol struct {
	pages     int64 // pages in the volume, the last one possibly partial
	blockBits uint  // log2(BlockSize)
	ppbBits   uint  // log2(pages per block)
}

type attachedReader struct{ r io.ReaderAt }

type trackState struct {
	gen *generation
	log *logEpoch // nil: in-memory tracker, or closed
	err error     // non-nil: ErrClosed or a failed state file
}

// generation holds one page bitmap per volume.
type generation struct {
	pages []*bitmap
}

func newGeneration(vols []trackedVol) *generation {
	g := &generation{pages: make([]*bitmap, len(vols))}
	for i, v := range vols {
		g.pages[i] = newBitmap(v.pages)
	}
	return g
}

// NewTracker returns an in-memory Tracker for a group of volumes with the
// given geometries, nothing dirty. Its state does not survive a restart; see
// CreateTracker and OpenTracker for resilient tracking.
func NewTracker(geoms []Geometry, opts ...TrackerOption) (*Tracker, error) {
	t, err := newTracker(geoms, opts)
	if err != nil {
		return nil, err
	}
	t.state.Store(&trackState{gen: newGeneration(t.vols)})
	return t, nil
}

func newTracker(geoms []Geometry, opts []TrackerOption) (*Tracker, error) {
	o := defaultTrackerOptions()
	for _, opt := range opts {
		if err := opt(&o); err != nil {
			return nil, err
		}
	}
	if len(geoms) == 0 {
		return nil, fmt.Errorf("%w: a tracker needs at least one volume", ErrGeometry)
	}
	if len(geoms) > maxStateVolumes {
		return nil, fmt.Errorf("%w: %d volumes exceeds %d", ErrLimit, len(geoms), maxStateVolumes)
	}
	t := &Tracker{
		geoms:   append([]Geometry(nil), geoms...),
		vols:    make([]trackedVol, len(geoms)),
		opts:    o,
		readers: make([]atomic.Pointer[attachedReader], len(geoms)),
	}
	for i, g := range geoms {
		if err := g.Validate(); err != nil {
			return nil, fmt.Errorf("volume %d: %w", i, err)
		}
		t.vols[i] = trackedVol{
			pages:     (g.Size + PageSize - 1) / PageSize,
			blockBits: uint(bits.TrailingZeros(uint(g.BlockSize))),
			ppbBits:   uint(bits.TrailingZeros(uint(g.PagesPerBlock()))),
		}
	}
	return t, nil
}

// Geometries returns the geometry of every volume, in group order. The
// result must not be modified.
func (t *Tracker) Geometries() []Geometry { return t.geoms }

// checkRange validates a byte range of volume vol. An empty range inside
// the volume is valid and marks nothing.
func (t *Tracker) checkRange(vol int, off, n int64) error {
	if vol < 0 || vol >= len(t.geoms) {
		return fmt.Errorf("%w: volume %d outside 0..%d", ErrGeometry, vol, len(t.geoms)-1)
	}
	if size := t.geoms[vol].Size; n < 0 || off < 0 || off > size || n > size-off {
		return fmt.Errorf("%w: range [%d, +%d) outside volume %d of %d bytes", ErrGeometry, off, n, vol, size)
	}
	return nil
}

// Mark records that bytes [off, off+n) of volume vol are about to be
// written. It must return before the write it records starts: a mark after
// the write could fall after a freeze that the write did not, and on a
// persistent tracker the mark is what makes the block's extent durable in
// the activity log. A range outside the volume returns an error wrapping
// ErrGeometry and marks nothing; after Close it returns ErrClosed.
//
// On a persistent tracker the first Mark into an extent in each epoch (see
// CreateTracker) appends the extent to the activity log and waits for it
// to be synced; later marks into the extent cost one more atomic load. If
// that write fails, Mark returns the error and marks nothing.
//
// Mark alone keeps the dirty set; it does not preserve the content a
// Frozen reads. Hosts that write while a capture runs use BeginWrite and
// EndWrite (or a TrackedVolume), which add copy-before-write and the gate.
//
// Mark takes no lock: it sets the page bits with atomic ORs in the
// generation it loaded and then checks that the generation is still
// current. If Freeze swapped it meanwhile, the mark is repeated in the new
// one. The frozen generation may then hold the page too, which only sends
// it once more; a mark that lands in neither cannot happen, because Freeze
// stores the new generation before it reads the old one.
func (t *Tracker) Mark(vol int, off, n int64) error {
	// One comparison chain for the common case; checkRange words the error
	// (and accepts an empty range).
	if uint(vol) >= uint(len(t.geoms)) || off < 0 || n <= 0 || off > t.geoms[vol].Size-n {
		return t.checkRange(vol, off, n)
	}
	s := t.state.Load()
	// Fast path, without a call: one page whose extent needs no logging,
	// in an allocated chunk, and no Freeze or checkpoint meanwhile. Any
	// other case (including a state swapped after the bit was set here)
	// goes through markFrom, which sets the bit again where it belongs.
	if p := off >> pageShift; (off+n-1)>>pageShift == p && s.err == nil &&
		(s.log == nil || s.log.hot[vol].has(off>>s.log.extBits[vol])) &&
		s.gen.pages[vol].trySet(p) && t.state.Load() == s {
		return nil
	}
	return t.markFrom(s, vol, off, n)
}

// markFrom is Mark after the range check, starting from state s as loaded
// by the caller (tests hand it a state that a Freeze has since replaced).
func (t *Tracker) markFrom(s *trackState, vol int, off, n int64) error {
	p0, p1 := off>>pageShift, (off+n-1)>>pageShift+1
	for {
		if s.err != nil {
			return s.err
		}
		if s.log != nil && !s.log.covers(vol, off, n) {
			retry, err := t.pers.logExtents(t, s, vol, off, n)
			if err != nil {
				return err
			}
			if retry {
				s = t.state.Load()
				continue
			}
		}
		if bm := s.gen.pages[vol]; p1-p0 == 1 {
			bm.orWord(p0>>6, 1<<(uint(p0)&63))
		} else {
			bm.setRange(p0, p1)
		}
		cur := t.state.Load()
		if cur == s {
			return nil
		}
		s = cur
	}
}

// pageShift is log2(PageSize).
const pageShift = 12

// BeginWrite prepares a write of bytes [off, off+n) of volume vol by the
// host's own write path: it enters the write gate, saves the old content of
// frozen blocks not captured yet (copy-before-write) and marks the range.
// On success the caller writes and then calls EndWrite; on error nothing was
// marked, the gate is not held and the caller must not write.
//
// Copy-before-write reads the volume attached with Attach. Writes must not
// overlap each other's ranges while in flight (as io.WriterAt requires).
func (t *Tracker) BeginWrite(vol int, off, n int64) error {
	if err := t.checkRange(vol, off, n); err != nil {
		return err
	}
	t.gate.RLock()
	if f := t.frozen.Load(); f != nil && n > 0 {
		if err := f.beforeWrite(vol, off, n); err != nil {
			t.gate.RUnlock()
			return err
		}
	}
	if err := t.Mark(vol, off, n); err != nil {
		t.gate.RUnlock()
		return err
	}
	return nil
}

// EndWrite ends a write begun by a successful BeginWrite.
func (t *Tracker) EndWrite() { t.gate.RUnlock() }

// Attach tells the tracker where to read volume vol for copy-before-write
// and for Frozen.ReadBlock. Volume attaches automatically; hosts that call
// BeginWrite from their own write path attach their volume once.
func (t *Tracker) Attach(vol int, r io.ReaderAt) error {
	if vol < 0 || vol >= len(t.geoms) {
		return fmt.Errorf("%w: volume %d outside 0..%d", ErrGeometry, vol, len(t.geoms)-1)
	}
	if r == nil {
		return fmt.Errorf("delta: Attach volume %d: nil reader", vol)
	}
	t.readers[vol].Store(&attachedReader{r: r})
	return nil
}

func (t *Tracker) reader(vol int) (io.ReaderAt, error) {
	a := t.readers[vol].Load()
	if a == nil {
		return nil, fmt.Errorf("%w: volume %d", ErrNotAttached, vol)
	}
	return a.r, nil
}

// Dirty returns a snapshot of the blocks of volume vol dirty in the current
// generation (written since the last freeze, plus restored sets).
func (t *Tracker) Dirty(vol int) (*Set, error) {
	if vol < 0 || vol >= len(t.geoms) {
		return nil, fmt.Errorf("%w: volume %d outside 0..%d", ErrGeometry, vol, len(t.geoms)-1)
	}
	set, _ := t.state.Load().gen.blocks(t.geoms[vol], t.vols[vol], vol)
	return set, nil
}

// DirtyPages returns which pages of block are dirty in the current
// generation: nil when all are, an empty mask when none is. It may reuse
// dst's storage.
func (t *Tracker) DirtyPages(vol int, block int64, dst PageMask) (PageMask, error) {
	if vol < 0 || vol >= len(t.geoms) || block < 0 || block >= t.geoms[vol].Blocks() {
		return nil, fmt.Errorf("%w: volume %d block %d out of range", ErrGeometry, vol, block)
	}
	return t.state.Load().gen.pageMask(t.geoms[vol], t.vols[vol], vol, block, dst), nil
}

// DirtyStats counts a dirty set.
type DirtyStats struct {
	Blocks int64 // dirty blocks
	Pages  int64 // dirty pages inside them
	Bytes  int64 // bytes of those pages, a short last page counted short
}

// Pending returns the size of the current generation, summed over volumes:
// what the next cycle would send.
func (t *Tracker) Pending() DirtyStats {
	g := t.state.Load().gen
	var st DirtyStats
	for vol := range t.geoms {
		s := g.count(t.geoms[vol], t.vols[vol], vol, nil)
		st.Blocks += s.Blocks
		st.Pages += s.Pages
		st.Bytes += s.Bytes
	}
	return st
}

// blocks derives the dirty block set of volume vol and its counts.
func (g *generation) blocks(geom Geometry, tv trackedVol, vol int) (*Set, DirtyStats) {
	set := NewSet(geom.Blocks())
	st := g.count(geom, tv, vol, set)
	return set, st
}

// count counts the dirty blocks and pages of volume vol, adding the blocks
// to set unless it is nil.
func (g *generation) count(geom Geometry, tv trackedVol, vol int, set *Set) DirtyStats {
	var st DirtyStats
	last := int64(-1)
	g.pages[vol].forEachWord(func(wi int64, w uint64) {
		st.Pages += int64(bits.OnesCount64(w))
		for w != 0 {
			page := wi<<6 + int64(bits.TrailingZeros64(w))
			b := page >> tv.ppbBits
			if b != last { // words come in ascending order
				st.Blocks++
				last = b
				if set != nil {
					set.Add(b)
				}
			}
			// Skip the rest of this block's pages in w.
			next := (b+1)<<tv.ppbBits - wi<<6
			if next >= 64 {
				w = 0
			} else {
				w &= ^uint64(0) << uint(next)
			}
		}
	})
	st.Bytes = st.Pages * PageSize
	if tail := geom.Size % PageSize; tail != 0 && g.pages[vol].has(tv.pages-1) {
		st.Bytes -= PageSize - tail
	}
	return st
}

// blockDirty reports whether any page of block is set.
func (g *generation) blockDirty(tv trackedVol, vol int, block int64) bool {
	lo := block << tv.ppbBits
	hi := min(lo+1<<tv.ppbBits, tv.pages)
	return g.pages[vol].anyInRange(lo, hi)
}

// pageMask returns the dirty pages of block, nil when all of them.
func (g *generation) pageMask(geom Geometry, tv trackedVol, vol int, block int64, dst PageMask) PageMask {
	n := geom.BlockPages(block)
	m, c := g.pages[vol].extract(block<<tv.ppbBits, n, dst)
	if c == n {
		return nil
	}
	return m
}

// markBlocks sets every page of every block in set (used when loading a
// persisted state, which is kept at block granularity).
func (g *generation) markBlocks(tv trackedVol, vol int, set *Set) {
	for start, count := range set.Runs() {
		lo := start << tv.ppbBits
		hi := min((start+count)<<tv.ppbBits, tv.pages)
		g.pages[vol].setRange(lo, hi)
	}
}
