package delta

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"

	"github.com/klauspost/compress/zstd"
)

// Target is a volume a stream is applied to. Copy records read back from
// it the blocks the same stream wrote earlier.
type Target interface {
	io.ReaderAt
	io.WriterAt
}

// ZeroWriter is an optional Target capability: writing n zero bytes at off
// cheaply (punching a hole, a trim). Apply uses it for zero runs.
type ZeroWriter interface {
	WriteZeroes(off, n int64) error
}

// Apply verifies the whole stream in r and then writes it to targets, one
// per volume of the stream, in order. Nothing is written until every record
// and the trailer checked out: the verified, decompressed records are
// staged in memory and, past WithStageMemory, in a temporary file that is
// removed before Apply returns.
//
// A stream that does not fit the targets (volume count; sizes and block
// size as WithTargetGeometries or the targets themselves report them) gives
// an error wrapping ErrMismatch; a bad stream a *CorruptError. In both cases
// the targets are untouched. ctx is honoured until the first write; from
// then on Apply writes the verified stream to the end unless a write fails,
// which it reports with the target partly written.
func Apply(ctx context.Context, r io.Reader, targets []Target, opts ...ApplyOption) (*Header, error) {
	cfg := defaultApplyConfig()
	for _, o := range opts {
		if err := o.applyTo(&cfg); err != nil {
			return nil, err
		}
	}
	opt := cfg.dec
	d, err := NewDecoder(r, func(c *decoderConfig) error { *c = opt; return nil })
	if err != nil {
		return nil, err
	}
	defer d.Close()
	h := d.h
	if err := checkTargets(h, targets, cfg.geoms); err != nil {
		return nil, err
	}
	st := &stage{dir: cfg.tempDir, limit: cfg.stageMemory}
	defer st.close()
	if err := verifyInto(ctx, d, st, cfg.concurrency); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if err := replay(st, h, targets); err != nil {
		return nil, err
	}
	return h, st.close()
}

func checkTargets(h *Header, targets []Target, geoms []Geometry) error {
	if len(targets) != len(h.Volumes) {
		return fmt.Errorf("%w: stream has %d volumes, %d targets given", ErrMismatch, len(h.Volumes), len(targets))
	}
	if geoms != nil && len(geoms) != len(h.Volumes) {
		return fmt.Errorf("%w: stream has %d volumes, target has %d", ErrMismatch, len(h.Volumes), len(geoms))
	}
	for i, t := range targets {
		if t == nil {
			return fmt.Errorf("%w: target %d is nil", ErrMismatch, i)
		}
		want := h.Geometry(i)
		if geoms != nil && geoms[i] != want {
			return fmt.Errorf("%w: volume %d: stream has %d bytes in %d-byte blocks, target %d in %d", ErrMismatch, i, want.Size, want.BlockSize, geoms[i].Size, geoms[i].BlockSize)
		}
		size := int64(-1)
		switch v := t.(type) {
		case interface{ Size() int64 }:
			size = v.Size()
		case interface{ Stat() (fs.FileInfo, error) }:
			fi, err := v.Stat()
			if err != nil {
				return fmt.Errorf("delta: apply: target %d: %w", i, err)
			}
			if fi.Mode().IsRegular() {
				size = fi.Size()
			}
		}
		if size >= 0 && size != want.Size {
			return fmt.Errorf("%w: volume %d: stream has %d bytes, target %d", ErrMismatch, i, want.Size, size)
		}
	}
	return nil
}

// applySlot is one record between reading and staging.
type applySlot struct {
	raw  rawRecord
	out  []byte
	data []byte
	eof  bool
}

// verifyInto reads every record of d, checks and decompresses them in
// parallel, and stages them in order.
func verifyInto(ctx context.Context, d *Decoder, st *stage, workers int) error {
	bs := d.h.BlockSize
	// A slot holds a record's payload and its data: a block, or a data
	// run's bytes in a version 2 stream.
	rec := bs
	if d.st.runs {
		rec = max(bs, MaxRunBytes)
	}
	nslots := max(2, min(4*workers, int(DefaultEncoderMemory/int64(2*rec))))
	slots := make([]*applySlot, nslots)
	for i := range slots {
		slots[i] = &applySlot{}
	}
	zds := make([]*zstd.Decoder, workers)
	phs := make([]payloadHasher, workers)
	for i := range phs {
		phs[i] = newPayloadHasher()
	}
	defer func() {
		for _, z := range zds {
			if z != nil {
				putZstdDecoder(z)
			}
		}
	}()
	fill := func(_ context.Context, s *applySlot) (bool, error) {
		err := d.readRaw(&s.raw)
		if errors.Is(err, io.EOF) {
			return false, nil
		}
		return err == nil, err
	}
	work := func(w int, s *applySlot) error {
		r := &s.raw
		if err := r.verifySum(phs[w]); err != nil {
			return err
		}
		if r.skip || r.kind != RecordData {
			return nil
		}
		if zds[w] == nil {
			zds[w] = getZstdDecoder()
		}
		var err error
		s.data, s.out, err = r.decodeData(zds[w], s.out, bs)
		return err
	}
	drain := func(s *applySlot) error {
		r := &s.raw
		if r.skip {
			return nil
		}
		e := stageEntry{kind: r.kind, vol: r.vol, block: r.block, count: r.count, fromVol: r.fromVol, fromBlock: r.fromBlock}
		if r.kind != RecordData {
			_, err := st.add(&e, r.mask, nil, nil)
			return err
		}
		// The stage keeps the buffer holding the data; the slot gets
		// another one when it next needs it.
		zstd := r.h.flags&flagZstd != 0
		owned := r.payload
		if zstd {
			owned = s.out
		}
		took, err := st.add(&e, r.mask, s.data, owned)
		switch {
		case took && zstd:
			s.out = nil
		case took:
			r.payload = nil
		}
		return err
	}
	err := runOrdered(ctx, workers, slots, fill, work, drain)
	for _, s := range slots {
		putBuf(s.out)
		putBuf(s.raw.payload)
	}
	return err
}

// replay writes staged records to the targets.
func replay(st *stage, h *Header, targets []Target) error {
	var cp []byte
	return st.each(func(e *stageEntry, mask PageMask, data []byte) error {
		g := h.Geometry(e.vol)
		t := targets[e.vol]
		var err error
		switch e.kind {
		case RecordData:
			if e.count > 1 {
				// A data run: its blocks' bytes, back to back.
				off, _ := g.BlockBounds(e.block)
				_, err = t.WriteAt(data, off)
				break
			}
			err = writePages(t, g, e.block, mask, data)
		case RecordZero:
			err = writeZeroes(t, g, e.block, e.count, mask)
		case RecordCopy:
			foff, n := h.Geometry(e.fromVol).BlockBounds(e.fromBlock)
			if cap(cp) < n {
				cp = make([]byte, h.BlockSize)
			}
			if _, err = targets[e.fromVol].ReadAt(cp[:n], foff); err == nil || errors.Is(err, io.EOF) {
				off, _ := g.BlockBounds(e.block)
				_, err = t.WriteAt(cp[:n], off)
			}
		}
		if err != nil {
			return fmt.Errorf("delta: apply: volume %d block %d: %w", e.vol, e.block, err)
		}
		return nil
	})
}

// pageRuns calls f for each run of consecutive pages of mask in a block of
// blen bytes, with the run's offset in the block and its length.
func pageRuns(mask PageMask, blen int, f func(off, n int) error) error {
	if mask == nil {
		return f(0, blen)
	}
	pages := (blen + PageSize - 1) / PageSize
	start, end := -1, -1
	for p := range mask.All(pages) {
		if p == end {
			end++
			continue
		}
		if start >= 0 {
			if err := f(start*PageSize, min(end*PageSize, blen)-start*PageSize); err != nil {
				return err
			}
		}
		start, end = p, p+1
	}
	if start >= 0 {
		return f(start*PageSize, min(end*PageSize, blen)-start*PageSize)
	}
	return nil
}

func writePages(t Target, g Geometry, block int64, mask PageMask, data []byte) error {
	off, blen := g.BlockBounds(block)
	pos := 0
	return pageRuns(mask, blen, func(o, n int) error {
		_, err := t.WriteAt(data[pos:pos+n], off+int64(o))
		pos += n
		return err
	})
}

func writeZeroes(t Target, g Geometry, block, count int64, mask PageMask) error {
	off, blen := g.BlockBounds(block)
	if mask != nil {
		return pageRuns(mask, blen, func(o, n int) error { return zeroRange(t, off+int64(o), int64(n)) })
	}
	last, lastLen := g.BlockBounds(block + count - 1)
	return zeroRange(t, off, last+int64(lastLen)-off)
}

func zeroRange(t Target, off, n int64) error {
	if z, ok := t.(ZeroWriter); ok {
		return z.WriteZeroes(off, n)
	}
	for n > 0 {
		c := min(n, int64(len(zeroChunk)))
		if _, err := t.WriteAt(zeroChunk[:c], off); err != nil {
			return err
		}
		off += c
		n -= c
	}
	return nil
}
