package delta

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"
)

// Frozen is one generation of a Tracker ended by Freeze: the blocks and
// pages written before the freeze instant, and their content as of that
// instant. It implements Source, so an Encoder reads it directly.
//
// A Frozen ends exactly once: Commit when the replica acknowledged the
// cycle (its blocks are clean), Restore when the cycle failed (its blocks
// are merged back, nothing is lost). Until then the Tracker preserves the
// frozen content with copy-before-write and refuses another Freeze.
type Frozen struct {
	t    *Tracker
	gen  *generation
	seq  uint64
	at   time.Time
	app  bool
	done atomic.Bool

	sets  []*Set
	stats []DirtyStats

	// capture holds two bits a block (see capture.go), one bitmap a volume.
	capture []*bitmap
	stripes [captureStripes]sync.Mutex
	store   *cbwStore
}

func newFrozen(t *Tracker, gen *generation, seq uint64, at time.Time, app bool) *Frozen {
	f := &Frozen{
		t:       t,
		gen:     gen,
		seq:     seq,
		at:      at,
		app:     app,
		capture: make([]*bitmap, len(t.geoms)),
		store:   newCBWStore(t.opts.captureMem, t.opts.spillDir),
	}
	for i, g := range t.geoms {
		f.capture[i] = newBitmap(2 * g.Blocks())
	}
	return f
}

// index derives the block sets and counts from the frozen bitmaps.
func (f *Frozen) index() {
	f.sets = make([]*Set, len(f.t.geoms))
	f.stats = make([]DirtyStats, len(f.t.geoms))
	for vol, g := range f.t.geoms {
		f.sets[vol], f.stats[vol] = f.gen.blocks(g, f.t.vols[vol], vol)
	}
}

// Geometries returns the geometry of every volume, in group order.
func (f *Frozen) Geometries() []Geometry { return f.t.geoms }

// Blocks returns the frozen blocks of volume vol (nil for a volume out of
// range). The set must not be modified.
func (f *Frozen) Blocks(vol int) *Set {
	if vol < 0 || vol >= len(f.sets) {
		return nil
	}
	return f.sets[vol]
}

// Pages returns which pages of a frozen block were written: nil when all
// of them, an empty mask for a block outside the set. It may reuse dst's
// storage.
func (f *Frozen) Pages(vol int, block int64, dst PageMask) PageMask {
	if vol < 0 || vol >= len(f.sets) || block < 0 || block >= f.t.geoms[vol].Blocks() {
		return PageMask{} // no page; nil would mean the whole block
	}
	return f.gen.pageMask(f.t.geoms[vol], f.t.vols[vol], vol, block, dst)
}

// Sequence returns the freeze's number, counting from 1 for each Tracker.
func (f *Frozen) Sequence() uint64 { return f.seq }

// Time returns the freeze instant by the tracker's clock.
func (f *Frozen) Time() time.Time { return f.at }

// AppConsistent reports whether a quiesce hook ran around the freeze.
func (f *Frozen) AppConsistent() bool { return f.app }

// Dirty returns the frozen set's size summed over volumes.
func (f *Frozen) Dirty() DirtyStats {
	var st DirtyStats
	for _, s := range f.stats {
		st.Blocks += s.Blocks
		st.Pages += s.Pages
		st.Bytes += s.Bytes
	}
	return st
}

// VolumeDirty returns the frozen set's size for volume vol.
func (f *Frozen) VolumeDirty(vol int) DirtyStats {
	if vol < 0 || vol >= len(f.stats) {
		return DirtyStats{}
	}
	return f.stats[vol]
}

// Capture returns what copy-before-write has saved so far.
func (f *Frozen) Capture() CaptureStats { return f.store.stats() }

// Commit ends the Frozen after the replica acknowledged it: its blocks are
// clean and its saved copies are freed. A persistent tracker first writes
// the new dirty state with one sync of its state file; the new state's
// superblock becomes durable with the next sync (the next log append or
// checkpoint), and a crash before that reopens the previous state, in which
// the committed blocks are still dirty (they are sent again: a superset,
// nothing lost). If writing fails the error is returned and the
// Frozen stays outstanding, so Commit may be retried or Restore merge it
// back in memory. The state file may by then already hold the set as clean,
// which is right, as the replica has it. A second Commit or a Commit after
// Restore returns ErrFrozenDone.
func (f *Frozen) Commit(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	t := f.t
	t.mu.Lock()
	defer t.mu.Unlock()
	if f.done.Load() {
		return ErrFrozenDone
	}
	if s := t.state.Load(); s.err != nil {
		return s.err
	}
	if t.pers != nil {
		if err := t.pers.checkpoint(t, nil, false, f); err != nil {
			return err
		}
	}
	return t.finish(f)
}

// Restore merges the Frozen back into its Tracker; see Tracker.Restore.
func (f *Frozen) Restore() error { return f.t.Restore(f) }

// ReadBlock fills p with block's content as of the freeze instant; len(p)
// must be the block's length. The content comes from the copy-before-write
// store when a write saved it, else from the live volume, after which later
// writes to the block skip saving it: a block is read once per capture, and
// a second read of a block overwritten since returns ErrCaptureExpired
// (unless WithRepeatableCapture is set, which keeps every read repeatable).
// A block outside Blocks(vol) returns ErrNotFrozen. Safe from several
// goroutines.
func (f *Frozen) ReadBlock(vol int, block int64, p []byte) error {
	return f.readSelected(vol, block, nil, p)
}

// readSelected implements pageSource, and ReadBlock with a nil mask: the
// same checks and capture rules, reading only the pages of mask from the
// live volume.
func (f *Frozen) readSelected(vol int, block int64, mask PageMask, p []byte) error {
	if f.done.Load() {
		return ErrFrozenDone
	}
	if vol < 0 || vol >= len(f.t.geoms) || block < 0 || block >= f.t.geoms[vol].Blocks() {
		return fmt.Errorf("%w: volume %d block %d out of range", ErrGeometry, vol, block)
	}
	off, n := f.t.geoms[vol].BlockBounds(block)
	if len(p) != n {
		return fmt.Errorf("%w: buffer of %d bytes for block %d of %d bytes", ErrGeometry, len(p), block, n)
	}
	if !f.gen.blockDirty(f.t.vols[vol], vol, block) {
		return fmt.Errorf("%w: volume %d block %d", ErrNotFrozen, vol, block)
	}
	return f.readPages(vol, block, off, p, mask)
}

var (
	_ Source     = (*Frozen)(nil)
	_ pageSource = (*Frozen)(nil)
)
