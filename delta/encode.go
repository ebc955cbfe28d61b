package delta

import (
	"bufio"
	"context"
	"fmt"
	"io"

	"github.com/klauspost/compress/zstd"
	"github.com/zeebo/blake3"
)

// Encoder writes one delta stream: the header, a record for every dirty
// block of a Source, and the trailer. Blocks are read, zero-checked,
// hashed and compressed in parallel and written in order, with the
// buffers in flight bounded by WithEncoderMemory.
type Encoder struct {
	w    io.Writer
	h    Header
	cfg  encoderConfig
	used bool
}

// EncodeStats says what one Encode wrote.
type EncodeStats struct {
	Records     int64 // records written
	DataBlocks  int64 // data records (whole blocks or some pages)
	PageRecords int64 // data and zero records that carry a page mask
	ZeroBlocks  int64 // blocks covered by zero records
	CopyBlocks  int64 // blocks sent as copies of an earlier block
	RawBytes    int64 // bytes of the selected pages of every dirty block
	StreamBytes int64 // bytes written, header and trailer included
	BufferBytes int64 // bytes of block buffers the encoder held at most
	RunBlocks   int64 // blocks sent inside data runs (counted once in DataBlocks per run)
}

// NewEncoder returns an Encoder that writes a stream described by h to w.
// h is checked with Header.Validate.
func NewEncoder(w io.Writer, h Header, opts ...EncoderOption) (*Encoder, error) {
	cfg := defaultEncoderConfig()
	for _, o := range opts {
		if err := o(&cfg); err != nil {
			return nil, err
		}
	}
	if err := h.Validate(); err != nil {
		return nil, err
	}
	h.Time = h.Time.UTC()
	h.Volumes = append([]VolumeInfo(nil), h.Volumes...)
	h.Meta = append([]byte(nil), h.Meta...)
	if encoderSlotBytes(h.BlockSize, cfg.compress) > cfg.memory {
		return nil, fmt.Errorf("%w: encoder memory %d holds no %d-byte block with its compressed copy", ErrLimit, cfg.memory, h.BlockSize)
	}
	return &Encoder{w: w, h: h, cfg: cfg}, nil
}

// encSlot is one block in flight, or a few consecutive whole blocks of a
// volume (a run slot, n > 1; see encode_run.go).
type encSlot struct {
	vol     int
	block   int64
	n       int      // blocks in the slot
	blen    int      // the block's length (n == 1)
	mask    PageMask // nil: whole block
	maskBuf PageMask
	buf     []byte // the block; the selected pages are moved to its front
	sel     int    // bytes of selected pages
	zero    bool
	comp    bool   // body is z, else buf[:sel]
	z       []byte // zstd frame
	wmask   []byte // the mask in wire form
	key     dedupKey
	phash   [32]byte // hash of the payload
	run     runSlot  // n > 1
}

type dedupKey struct {
	n int
	h [32]byte
}

type blockAddr struct {
	vol   int
	block int64
}

// Encode writes the header, the records of every block src.Blocks names,
// and the trailer. src's geometries must match the header. An Encoder
// encodes once; a second call returns an error wrapping ErrClosed. After an
// error (src's, w's, ctx's) what was written lacks its trailer, so every
// reader refuses it; the caller discards it.
func (e *Encoder) Encode(ctx context.Context, src Source) (EncodeStats, error) {
	var st EncodeStats
	if e.used {
		return st, fmt.Errorf("%w: Encoder.Encode called twice", ErrClosed)
	}
	e.used = true
	bs := e.h.BlockSize
	geoms := src.Geometries()
	if len(geoms) != len(e.h.Volumes) {
		return st, fmt.Errorf("%w: source has %d volumes, header %d", ErrMismatch, len(geoms), len(e.h.Volumes))
	}
	var total, nblocks int64
	for i, g := range geoms {
		if g.Size != e.h.Volumes[i].Size || g.BlockSize != bs {
			return st, fmt.Errorf("%w: volume %d: source geometry %d bytes in %d-byte blocks, header %d in %d", ErrMismatch, i, g.Size, g.BlockSize, e.h.Volumes[i].Size, bs)
		}
		set := src.Blocks(i)
		if set == nil || set.Len() != g.Blocks() {
			return st, fmt.Errorf("%w: volume %d: block set does not cover the volume's %d blocks", ErrMismatch, i, g.Blocks())
		}
		c := set.Count()
		nblocks += c
		total += c * int64(bs)
		if last := g.Blocks() - 1; set.Contains(last) {
			_, n := g.BlockBounds(last)
			total -= int64(bs - n)
		}
	}

	sw := &streamWriter{w: bufio.NewWriterSize(e.w, 64<<10), h: blake3.New()}
	runBlocks := e.runBlocks()
	version := uint16(FormatVersion1)
	if runBlocks > 1 {
		version = FormatVersion
	}
	if err := sw.write(appendHeaderVersion(nil, &e.h, version)); err != nil {
		return st, err
	}

	zcap := zstdCap(bs, e.cfg.compress)
	slotBytes := encoderSlotBytes(bs, e.cfg.compress)
	if runBlocks > 1 {
		slotBytes = encoderSlotBytes(runBlocks*bs, e.cfg.compress)
	}
	nslots := e.cfg.memory / slotBytes
	nslots = min(nslots, int64(4*e.cfg.concurrency), max(nblocks, 1))
	workers := int(min(int64(e.cfg.concurrency), nslots))
	slots := make([]*encSlot, nslots)
	for i := range slots {
		slots[i] = &encSlot{}
	}
	encs := make([]*zstd.Encoder, workers)
	hashers := make([]payloadHasher, workers)
	for i := range encs {
		if e.cfg.compress {
			encs[i] = getZstdEncoder(e.cfg.level, e.cfg.runBytes > 0)
		}
		hashers[i] = newPayloadHasher()
	}
	defer func() {
		for _, z := range encs {
			if z != nil {
				putZstdEncoder(e.cfg.level, e.cfg.runBytes > 0, z)
			}
		}
	}()

	w := &recordWriter{sw: sw, st: &st}
	var table map[dedupKey]blockAddr
	if e.cfg.dedup {
		table = make(map[dedupKey]blockAddr)
	}
	vol, next := 0, int64(0)
	var done int64
	var run struct {
		active     bool
		vol        int
		start, end int64
	}
	flushRun := func() error {
		if !run.active {
			return nil
		}
		run.active = false
		st.ZeroBlocks += run.end - run.start
		return w.zero(run.vol, run.start, run.end-run.start, nil)
	}

	fill := func(ctx context.Context, s *encSlot) (bool, error) {
		for vol < len(geoms) {
			b := setNext(src.Blocks(vol), next)
			if b < 0 {
				vol, next = vol+1, 0
				continue
			}
			next = b + 1
			s.vol, s.block = vol, b
			_, s.blen = geoms[vol].BlockBounds(b)
			pages := geoms[vol].BlockPages(b)
			s.mask = src.Pages(vol, b, s.maskBuf[:0])
			if s.mask != nil {
				s.maskBuf = s.mask
				if c := s.mask.Count(pages); c == 0 || c == pages {
					s.mask = nil
				}
			}
			s.n = 1
			if s.mask == nil && runBlocks > 1 {
				s.n = s.run.extend(src, geoms[vol], vol, b, runBlocks)
				next = b + int64(s.n)
			}
			return true, nil
		}
		return false, nil
	}
	work := func(wk int, s *encSlot) error {
		if s.n > 1 {
			return s.workRun(src, geoms[s.vol], bs, runBlocks, encs[wk], hashers[wk], table != nil)
		}
		if cap(s.buf) < bs {
			s.buf = getBuf(bs)[:bs]
		}
		blk := s.buf[:s.blen]
		if err := readSource(src, s.vol, s.block, s.mask, blk); err != nil { // source_pages.go
			return fmt.Errorf("delta: read volume %d block %d: %w", s.vol, s.block, err)
		}
		s.sel = s.blen
		pages := (s.blen + PageSize - 1) / PageSize
		if s.mask != nil {
			s.sel = 0
			for p := range s.mask.All(pages) {
				n := min(PageSize, s.blen-p*PageSize)
				s.sel += copy(blk[s.sel:], blk[p*PageSize:p*PageSize+n])
			}
			s.wmask = appendMask(s.wmask[:0], s.mask, pages)
		} else {
			s.wmask = s.wmask[:0]
		}
		data := blk[:s.sel]
		s.zero = isZero(data)
		s.comp = false
		if s.zero {
			return nil
		}
		if table != nil && s.mask == nil {
			s.key = dedupKey{n: len(data), h: blake3.Sum256(data)}
		}
		body := data
		if encs[wk] != nil {
			if cap(s.z) < zcap {
				s.z = getBuf(zcap)
			}
			s.z = encs[wk].EncodeAll(data, s.z[:0])
			if len(s.z) < len(data) {
				s.comp = true
				body = s.z
			}
		}
		hashers[wk].sum(&s.phash, s.wmask, body)
		return nil
	}
	// writeData writes one block's data record, or a copy record when
	// dedup finds its bytes among the earlier whole blocks.
	writeData := func(vol int, block int64, mask PageMask, wmask []byte, key dedupKey, comp bool, body []byte, phash *[32]byte) error {
		if err := flushRun(); err != nil {
			return err
		}
		var flags uint8
		if table != nil && mask == nil {
			if from, ok := table[key]; ok {
				st.CopyBlocks++
				return w.copy(vol, block, from)
			}
			if len(table) < e.cfg.dedupTable {
				table[key] = blockAddr{vol, block}
				flags |= flagSource
			}
		}
		if comp {
			flags |= flagZstd
		}
		if mask != nil {
			flags |= flagPages
			st.PageRecords++
		}
		st.DataBlocks++
		return w.data(vol, block, 1, flags, wmask, body, phash)
	}
	// zeroBlock adds a whole zero block to the run of zero blocks.
	zeroBlock := func(vol int, block int64) error {
		if run.active && run.vol == vol && run.end == block {
			run.end++
			return nil
		}
		if err := flushRun(); err != nil {
			return err
		}
		run.active, run.vol, run.start, run.end = true, vol, block, block+1
		return nil
	}
	progress := func(n int) {
		done += int64(n)
		if e.cfg.progress != nil {
			e.cfg.progress(done, total)
		}
	}
	drain := func(s *encSlot) error {
		if s.n > 1 {
			return s.drainRun(geoms[s.vol], &st, w, flushRun, zeroBlock, writeData, progress)
		}
		st.RawBytes += int64(s.sel)
		var err error
		switch {
		case s.zero && s.mask == nil:
			err = zeroBlock(s.vol, s.block)
		case s.zero:
			if err = flushRun(); err == nil {
				st.ZeroBlocks++
				st.PageRecords++
				err = w.zero(s.vol, s.block, 1, s.wmask)
			}
		default:
			body := s.buf[:s.sel]
			if s.comp {
				body = s.z
			}
			err = writeData(s.vol, s.block, s.mask, s.wmask, s.key, s.comp, body, &s.phash)
		}
		if err != nil {
			return err
		}
		progress(s.blen)
		return nil
	}
	err := runOrdered(ctx, workers, slots, fill, work, drain)
	st.StreamBytes = sw.n
	for _, s := range slots {
		st.BufferBytes += int64(cap(s.buf) + cap(s.z) + cap(s.wmask) + 8*cap(s.maskBuf))
		putBuf(s.buf)
		putBuf(s.z)
	}
	if err != nil {
		return st, err
	}
	if err := flushRun(); err != nil {
		return st, err
	}
	if err := sw.trailer(uint64(st.Records)); err != nil {
		return st, err
	}
	st.StreamBytes = sw.n
	return st, nil
}
