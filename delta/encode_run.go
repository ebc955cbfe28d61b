package delta

import (
	"fmt"
	"math/bits"

	"github.com/klauspost/compress/zstd"
	"github.com/zeebo/blake3"
)

// A run slot holds up to runBlocks consecutive dirty whole blocks of one
// volume. Its blocks are read at once; the span from its first to its
// last non-zero block is compressed as one zstd frame, so that the
// compressor sees the blocks before each block (zero blocks inside cost a
// few bytes), and travels as one data run (FORMAT.md, version 2). The zero
// blocks around the span become zero records. A slot whose span's frame is
// not smaller than its non-zero blocks, or that has a single
// non-zero block, is sent block by block as without runs, dedup included;
// blocks inside a run are neither copy sources nor replaced by copies.
type runSlot struct {
	blocks      []runBlock
	first, last int  // the non-zero span; first < 0: every block is zero
	frame       bool // the span travels as one data run, its frame in z
	probe       PageMask
}

// runBlock is one block of a run slot.
type runBlock struct {
	off, n int // its bytes in the slot's buffer
	zero   bool
	comp   bool // sent alone: its frame is z[zoff:zoff+zn]
	zoff   int
	zn     int
	key    dedupKey
	phash  [32]byte
}

// runBlocks is how many blocks a run slot holds: 1 (no runs) when runs
// are off, compression is off (a run of raw bytes gains nothing), the
// block size leaves room for fewer than two, or the encoder's memory
// holds fewer than two run slots.
func (e *Encoder) runBlocks() int {
	if !e.cfg.compress || e.cfg.runBytes == 0 {
		return 1
	}
	n := e.cfg.runBytes / e.h.BlockSize
	for n > 1 && 2*encoderSlotBytes(n*e.h.BlockSize, true) > e.cfg.memory {
		n /= 2
	}
	return max(n, 1)
}

// extend returns how many blocks from block on (which is dirty and whole)
// a run slot takes: the consecutive dirty blocks of the volume that the
// Source sends whole, at most max.
func (r *runSlot) extend(src Source, g Geometry, vol int, block int64, max int) int {
	set := src.Blocks(vol)
	nb := g.Blocks()
	n := 1
	for n < max {
		b := block + int64(n)
		if b >= nb || !set.Contains(b) {
			break
		}
		m := src.Pages(vol, b, r.probe[:0])
		if m != nil {
			r.probe = m
			if c := m.Count(g.BlockPages(b)); c != 0 && c != g.BlockPages(b) {
				break
			}
		}
		n++
	}
	return n
}

// runBufCap is the capacity of a run slot's buffer for n blocks of bs
// bytes, in slots of at most max blocks: a power of two times the block
// size (or max blocks), so that recycled buffers come in a few sizes and
// never pass the slot's share of the encoder's memory.
func runBufCap(n, max, bs int) int { return min(1<<bits.Len(uint(n-1)), max) * bs }

// workRun reads, zero-checks and compresses the blocks of a run slot (on
// a worker).
func (s *encSlot) workRun(src Source, g Geometry, bs, runBlocks int, enc *zstd.Encoder, ph payloadHasher, dedup bool) error {
	r := &s.run
	if cap(r.blocks) < s.n {
		r.blocks = make([]runBlock, s.n)
	}
	r.blocks = r.blocks[:s.n]
	total := 0
	for j := range r.blocks {
		_, n := g.BlockBounds(s.block + int64(j))
		r.blocks[j] = runBlock{off: total, n: n}
		total += n
	}
	if c := runBufCap(s.n, runBlocks, bs); cap(s.buf) < c {
		putBuf(s.buf)
		s.buf = getBuf(c)
	}
	if c := zstdCap(runBufCap(s.n, runBlocks, bs), enc != nil); cap(s.z) < c {
		putBuf(s.z)
		s.z = getBuf(c)
	}
	buf := s.buf[:total]
	r.first, r.last, r.frame = -1, -1, false
	for j := range r.blocks {
		b := &r.blocks[j]
		p := buf[b.off : b.off+b.n]
		if err := src.ReadBlock(s.vol, s.block+int64(j), p); err != nil {
			return fmt.Errorf("delta: read volume %d block %d: %w", s.vol, s.block+int64(j), err)
		}
		b.zero = isZero(p)
		if !b.zero {
			if r.first < 0 {
				r.first = j
			}
			r.last = j
		}
	}
	if r.first < 0 {
		return nil
	}
	s.z = s.z[:0]
	if r.last > r.first && enc != nil {
		lo, hi := r.blocks[r.first].off, r.blocks[r.last].off+r.blocks[r.last].n
		nonZero := 0
		for j := r.first; j <= r.last; j++ {
			if !r.blocks[j].zero {
				nonZero += r.blocks[j].n
			}
		}
		s.z = enc.EncodeAll(buf[lo:hi], s.z)
		// The run must shrink the non-zero blocks, which would otherwise
		// travel alone (and raw, for incompressible ones).
		if len(s.z) < nonZero {
			r.frame = true
			ph.sum(&s.phash, s.z)
			return nil
		}
		s.z = s.z[:0]
	}
	// Block by block, as a slot of one block is sent.
	for j := r.first; j <= r.last; j++ {
		b := &r.blocks[j]
		if b.zero {
			continue
		}
		data := buf[b.off : b.off+b.n]
		if dedup {
			b.key = dedupKey{n: len(data), h: blake3.Sum256(data)}
		}
		body := data
		if enc != nil {
			start := len(s.z)
			s.z = enc.EncodeAll(data, s.z)
			if n := len(s.z) - start; n < len(data) {
				b.comp, b.zoff, b.zn = true, start, n
				body = s.z[start:]
			} else {
				s.z = s.z[:start]
			}
		}
		ph.sum(&b.phash, body)
	}
	return nil
}

// drainRun writes the records of a run slot (on the writing goroutine):
// zero blocks to the zero run, the non-zero span as one data run or block
// by block.
func (s *encSlot) drainRun(g Geometry, st *EncodeStats, w *recordWriter,
	flushRun func() error,
	zeroBlock func(vol int, block int64) error,
	writeData func(vol int, block int64, mask PageMask, wmask []byte, key dedupKey, comp bool, body []byte, phash *[32]byte) error,
	progress func(n int),
) error {
	r := &s.run
	for j := 0; j < len(r.blocks); j++ {
		b := &r.blocks[j]
		block := s.block + int64(j)
		var err error
		switch {
		case r.frame && j == r.first:
			count := r.last - r.first + 1
			n := r.blocks[r.last].off + r.blocks[r.last].n - b.off
			if err = flushRun(); err == nil {
				st.DataBlocks++
				st.RunBlocks += int64(count)
				st.RawBytes += int64(n)
				err = w.data(s.vol, block, int64(count), flagZstd, nil, s.z, &s.phash)
			}
			if err == nil {
				progress(n)
			}
			j = r.last
			if err != nil {
				return err
			}
			continue
		case b.zero:
			err = zeroBlock(s.vol, block)
		default:
			body := s.buf[b.off : b.off+b.n]
			if b.comp {
				body = s.z[b.zoff : b.zoff+b.zn]
			}
			err = writeData(s.vol, block, nil, nil, b.key, b.comp, body, &b.phash)
		}
		if err != nil {
			return err
		}
		st.RawBytes += int64(b.n)
		progress(b.n)
	}
	return nil
}
