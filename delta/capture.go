package delta

import (
	"fmt"
	"io"
)

// Capture state of a frozen block, two bits per block in Frozen.capture.
// Transitions: pending→saved (a write saved the old content first),
// pending→read (the capture read the live block first), read→stale (a
// write after that read). pending→saved and pending→read happen under the
// block's stripe lock, so a write and the first read of a block never
// overlap; read→stale is a lock-free OR of the low bit.
const (
	capPending = 0
	capSaved   = 1
	capRead    = 2
	capStale   = 3
)

// captureStripes is the number of locks the blocks of a Frozen hash onto.
const captureStripes = 256

func (f *Frozen) capState(vol int, b int64) uint64 {
	bit := 2 * b
	return (f.capture[vol].word(bit>>6) >> (uint(bit) & 63)) & 3
}

func (f *Frozen) setCapState(vol int, b int64, v uint64) {
	bit := 2 * b
	f.capture[vol].orWord(bit>>6, v<<(uint(bit)&63))
}

func (f *Frozen) stripe(vol int, b int64) int {
	h := (uint64(b)*0x9E3779B97F4A7C15 + uint64(vol)*0xC2B2AE3D27D4EB4F) >> 56
	return int(h % captureStripes)
}

// beforeWrite saves the old content of every frozen, not yet captured block
// that bytes [off, off+n) of volume vol touch. It runs under the shared
// gate, before the write it protects; an error means the write must not
// happen, since the block's content as of the freeze would be lost.
func (f *Frozen) beforeWrite(vol int, off, n int64) error {
	tv := f.t.vols[vol]
	b0, b1 := off>>tv.blockBits, (off+n-1)>>tv.blockBits
	for b := b0; b <= b1; b++ {
		if !f.gen.blockDirty(tv, vol, b) {
			continue
		}
		switch f.capState(vol, b) {
		case capSaved, capStale:
			continue
		case capRead:
			f.setCapState(vol, b, capStale^capRead)
			continue
		}
		if err := f.save(vol, b); err != nil {
			return err
		}
	}
	return nil
}

func (f *Frozen) save(vol int, b int64) error {
	mu := &f.stripes[f.stripe(vol, b)]
	mu.Lock()
	defer mu.Unlock()
	switch f.capState(vol, b) {
	case capSaved, capStale:
		return nil
	case capRead:
		f.setCapState(vol, b, capStale^capRead)
		return nil
	}
	r, err := f.t.reader(vol)
	if err != nil {
		return err
	}
	off, n := f.t.geoms[vol].BlockBounds(b)
	buf := make([]byte, n)
	if err := readFullAt(r, buf, off); err != nil {
		return fmt.Errorf("delta: copy-before-write of volume %d block %d: %w", vol, b, err)
	}
	if err := f.store.put(vol, b, buf); err != nil {
		return fmt.Errorf("delta: copy-before-write of volume %d block %d: %w", vol, b, err)
	}
	f.setCapState(vol, b, capSaved)
	return nil
}

// readPages implements ReadBlock (mask nil) and readSelected once the
// arguments are checked. With a mask only its pages come from the live
// volume, and the other bytes of p are left as they were; the capture
// protocol is the block's either way: reading some of a block's pages
// captures the block as reading all of them does.
func (f *Frozen) readPages(vol int, b, off int64, p []byte, mask PageMask) error {
	mu := &f.stripes[f.stripe(vol, b)]
	mu.Lock()
	switch f.capState(vol, b) {
	case capSaved:
		mu.Unlock()
		return f.store.get(vol, b, p)
	case capStale:
		mu.Unlock()
		return fmt.Errorf("%w: volume %d block %d", ErrCaptureExpired, vol, b)
	case capPending:
		// Writers to this block wait on the stripe lock until the read is
		// done and the state says they need not save it.
		defer mu.Unlock()
		r, err := f.t.reader(vol)
		if err != nil {
			return err
		}
		if err := readLive(r, p, off, mask); err != nil {
			return fmt.Errorf("delta: capture of volume %d block %d: %w", vol, b, err)
		}
		// A repeatable capture leaves the block pending, so the next write
		// still saves it and a later read finds it.
		if !f.t.opts.repeatable {
			f.setCapState(vol, b, capRead)
		}
		return nil
	}
	// Read before and not overwritten yet: read again, then check that no
	// write marked it stale meanwhile (a writer marks it before writing).
	mu.Unlock()
	r, err := f.t.reader(vol)
	if err != nil {
		return err
	}
	if err := readLive(r, p, off, mask); err != nil {
		return fmt.Errorf("delta: capture of volume %d block %d: %w", vol, b, err)
	}
	if f.capState(vol, b) != capRead {
		return fmt.Errorf("%w: volume %d block %d", ErrCaptureExpired, vol, b)
	}
	return nil
}

// readLive reads the pages of mask (all of p when mask is nil) of the
// block at off into their places in p, one read per run of adjacent pages.
func readLive(r io.ReaderAt, p []byte, off int64, mask PageMask) error {
	if mask == nil {
		return readFullAt(r, p, off)
	}
	pages := (len(p) + PageSize - 1) / PageSize
	lo, hi := -1, -1 // the run of pages being gathered, [lo, hi)
	flush := func() error {
		if lo < 0 {
			return nil
		}
		start, end := lo*PageSize, min(hi*PageSize, len(p))
		return readFullAt(r, p[start:end], off+int64(start))
	}
	for pg := range mask.All(pages) {
		if pg == hi {
			hi++
			continue
		}
		if err := flush(); err != nil {
			return err
		}
		lo, hi = pg, pg+1
	}
	return flush()
}

// readFullAt fills p from r at off; a short read is an error even when the
// reader reports none, and io.EOF with a full buffer is success.
func readFullAt(r io.ReaderAt, p []byte, off int64) error {
	n, err := r.ReadAt(p, off)
	if n == len(p) {
		return nil
	}
	if err == nil || err == io.EOF {
		err = io.ErrUnexpectedEOF
	}
	return err
}
