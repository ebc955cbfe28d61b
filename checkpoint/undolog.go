package checkpoint

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"math/bits"

	"github.com/blockrep/blockrep/checkpoint/vfs"
	"github.com/blockrep/blockrep/delta"
)

// Undo log format (little-endian). One file per older point; it holds, for
// every block (or page) the next point overwrote, the content it had at this
// point.
//
//	header: "BRUNDO2\n" | u32 block size | u32 volume count | 16-byte base point id |
//	        16-byte new point id | u32 CRC-32C of the 48 bytes before
//	record: u32 CRC-32C of the rest of the record | u32 volume | u64 block |
//	        u16 mask words (0: whole block) | u32 data length | mask words (u64 each) | data
//
// The ids are those of the apply that wrote the log: the log holds the
// base point's content of every block it saved (a prune's merge writes
// zero ids). An undo log no manifest names whose base is the manifest's
// latest point is the log of an interrupted apply and is written back on
// open — which is always safe, as it can only restore the latest point's
// own content. Each block appears at most once in a log. The data holds the mask's pages
// in page order (see pages.go). Every length is checked against the
// group's geometry before anything is allocated.
const (
	undoMagic      = "BRUNDO2\n"
	undoHeaderSize = len(undoMagic) + 8 + 32 + 4
	undoRecHeader  = 4 + 4 + 8 + 2 + 4
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// undoEntry locates one block's saved content in an undo log.
type undoEntry struct {
	off  int64          // file offset of the record's data
	mask delta.PageMask // pages saved; nil = the whole block
}

// undoIndex maps (volume, block) to its entry in one undo log.
type undoIndex struct {
	vols    []map[int64]undoEntry
	records int64
}

func newUndoIndex(volumes int) *undoIndex {
	ix := &undoIndex{vols: make([]map[int64]undoEntry, volumes)}
	for i := range ix.vols {
		ix.vols[i] = make(map[int64]undoEntry)
	}
	return ix
}

func (ix *undoIndex) get(vol int, block int64) (undoEntry, bool) {
	e, ok := ix.vols[vol][block]
	return e, ok
}

// undoIDs names the apply that wrote a log.
type undoIDs struct{ base, new delta.PointID }

func undoHeader(blockSize, volumes int, ids undoIDs) []byte {
	b := append([]byte(undoMagic), 0, 0, 0, 0, 0, 0, 0, 0)
	binary.LittleEndian.PutUint32(b[8:], uint32(blockSize))
	binary.LittleEndian.PutUint32(b[12:], uint32(volumes))
	b = append(b, ids.base[:]...)
	b = append(b, ids.new[:]...)
	return binary.LittleEndian.AppendUint32(b, crc32.Checksum(b, castagnoli))
}

// parseUndoHeader checks a log's header against the group and returns the
// ids it names; ok is false for a short, torn or foreign header.
func parseUndoHeader(hdr []byte, blockSize, volumes int) (ids undoIDs, ok bool) {
	if len(hdr) < undoHeaderSize {
		return ids, false
	}
	copy(ids.base[:], hdr[16:32])
	copy(ids.new[:], hdr[32:48])
	return ids, string(hdr[:undoHeaderSize]) == string(undoHeader(blockSize, volumes, ids))
}

// appendUndoRecord appends one record to b and returns it with the offset of
// the data within the appended bytes.
func appendUndoRecord(b []byte, vol int, block int64, mask delta.PageMask, data []byte) ([]byte, int) {
	start := len(b)
	b = append(b, 0, 0, 0, 0)
	b = binary.LittleEndian.AppendUint32(b, uint32(vol))
	b = binary.LittleEndian.AppendUint64(b, uint64(block))
	b = binary.LittleEndian.AppendUint16(b, uint16(len(mask)))
	b = binary.LittleEndian.AppendUint32(b, uint32(len(data)))
	for _, w := range mask {
		b = binary.LittleEndian.AppendUint64(b, w)
	}
	dataAt := len(b) - start
	b = append(b, data...)
	binary.LittleEndian.PutUint32(b[start:], crc32.Checksum(b[start+4:], castagnoli))
	return b, dataAt
}

// undoWriter appends records to a new undo log, buffering until flush.
type undoWriter struct {
	f     vfs.File
	size  int64 // bytes on disk (flushed)
	buf   []byte
	batch []pendingEntry
	ix    *undoIndex
}

type pendingEntry struct {
	vol   int
	block int64
	e     undoEntry
}

// newUndoWriter writes the header of a fresh log into f.
func newUndoWriter(f vfs.File, blockSize, volumes int, ids undoIDs) (*undoWriter, error) {
	h := undoHeader(blockSize, volumes, ids)
	if _, err := f.WriteAt(h, 0); err != nil {
		return nil, err
	}
	return &undoWriter{f: f, size: int64(len(h)), ix: newUndoIndex(volumes)}, nil
}

// reserve makes room for n bytes of records without regrowing the buffer.
func (w *undoWriter) reserve(n int) {
	if cap(w.buf)-len(w.buf) < n {
		w.buf = append(make([]byte, 0, len(w.buf)+n), w.buf...)
	}
}

// add buffers a record; mask must be normalised (nil for a whole block).
func (w *undoWriter) add(vol int, block int64, mask delta.PageMask, data []byte) {
	off := w.size + int64(len(w.buf))
	var at int
	w.buf, at = appendUndoRecord(w.buf, vol, block, mask, data)
	w.batch = append(w.batch, pendingEntry{vol, block, undoEntry{off: off + int64(at), mask: mask}})
}

// flush writes the buffered records (not synced) and returns their entries,
// which the caller publishes into the index once they are durable.
func (w *undoWriter) flush() ([]pendingEntry, error) {
	if len(w.buf) > 0 {
		if _, err := w.f.WriteAt(w.buf, w.size); err != nil {
			return nil, err
		}
		w.size += int64(len(w.buf))
		w.buf = w.buf[:0]
	}
	b := w.batch
	w.batch = nil
	return b, nil
}

// errUndoTail marks a record that failed its checks: in a committed log it
// is damage, at the tail of an interrupted apply's log it is a torn write.
var errUndoTail = errors.New("bad undo record")

// readUndoLog reads and checks every record of an undo log of size bytes and
// returns its index and the end offset of the last good record. With
// tolerant set, a bad record ends the log (the torn tail of an interrupted
// apply); otherwise it is an error.
func readUndoLog(r io.ReaderAt, size int64, geoms []delta.Geometry, blockSize int, tolerant bool) (*undoIndex, int64, error) {
	ix := newUndoIndex(len(geoms))
	hdr := make([]byte, undoHeaderSize)
	if size < int64(undoHeaderSize) {
		if tolerant {
			return ix, 0, nil
		}
		return nil, 0, fmt.Errorf("%w: log of %d bytes has no header", errUndoTail, size)
	}
	if _, err := r.ReadAt(hdr, 0); err != nil {
		return nil, 0, err
	}
	if _, ok := parseUndoHeader(hdr, blockSize, len(geoms)); !ok {
		if tolerant {
			return ix, 0, nil
		}
		return nil, 0, fmt.Errorf("%w: header does not match the group", errUndoTail)
	}
	br := bufio.NewReaderSize(io.NewSectionReader(r, int64(undoHeaderSize), size-int64(undoHeaderSize)), int(min(size, 1<<20)))
	off := int64(undoHeaderSize)
	rec := make([]byte, undoRecHeader+(blockSize/delta.PageSize+63)/64*8+blockSize)
	for off < size {
		n, err := readUndoRecord(br, rec, geoms, ix, off)
		if err != nil {
			if tolerant {
				return ix, off, nil
			}
			return nil, off, err
		}
		off += int64(n)
	}
	return ix, off, nil
}

// readUndoRecord reads one record at off into buf (sized for the largest
// record) and adds it to ix; it returns the record's length.
func readUndoRecord(br *bufio.Reader, buf []byte, geoms []delta.Geometry, ix *undoIndex, off int64) (int, error) {
	h := buf[:undoRecHeader]
	if _, err := io.ReadFull(br, h); err != nil {
		return 0, fmt.Errorf("%w at offset %d: truncated header: %w", errUndoTail, off, err)
	}
	vol := binary.LittleEndian.Uint32(h[4:])
	block := binary.LittleEndian.Uint64(h[8:])
	words := int(binary.LittleEndian.Uint16(h[16:]))
	dlen := int64(binary.LittleEndian.Uint32(h[18:]))
	if int(vol) >= len(geoms) || block >= uint64(geoms[vol].Blocks()) {
		return 0, fmt.Errorf("%w at offset %d: volume %d block %d outside the group", errUndoTail, off, vol, block)
	}
	g := geoms[vol]
	_, blen := g.BlockBounds(int64(block))
	pages := g.BlockPages(int64(block))
	if words != 0 && words != (pages+63)/64 {
		return 0, fmt.Errorf("%w at offset %d: %d mask words for %d pages", errUndoTail, off, words, pages)
	}
	if dlen > int64(blen) {
		return 0, fmt.Errorf("%w at offset %d: %d data bytes for a block of %d", errUndoTail, off, dlen, blen)
	}
	total := undoRecHeader + 8*words + int(dlen)
	body := buf[undoRecHeader:total]
	if _, err := io.ReadFull(br, body); err != nil {
		return 0, fmt.Errorf("%w at offset %d: truncated record: %w", errUndoTail, off, err)
	}
	if crc32.Checksum(buf[4:total], castagnoli) != binary.LittleEndian.Uint32(h) {
		return 0, fmt.Errorf("%w at offset %d: checksum mismatch", errUndoTail, off)
	}
	var mask delta.PageMask
	if words > 0 {
		mask = make(delta.PageMask, words)
		for i := range mask {
			mask[i] = binary.LittleEndian.Uint64(body[8*i:])
		}
		if normMask(mask, pages) == nil || mask.Count(pages) == 0 || maskOutside(mask, pages) {
			return 0, fmt.Errorf("%w at offset %d: page mask full, empty or past the block", errUndoTail, off)
		}
	}
	if int(dlen) != maskBytes(mask, blen) {
		return 0, fmt.Errorf("%w at offset %d: %d data bytes do not match the page mask", errUndoTail, off, dlen)
	}
	if _, dup := ix.vols[vol][int64(block)]; dup {
		return 0, fmt.Errorf("%w at offset %d: volume %d block %d twice", errUndoTail, off, vol, block)
	}
	ix.vols[vol][int64(block)] = undoEntry{off: off + int64(undoRecHeader+8*words), mask: mask}
	ix.records++
	return total, nil
}

// maskOutside reports whether m has a bit at or past pages.
func maskOutside(m delta.PageMask, pages int) bool {
	for i, w := range m {
		for w != 0 {
			b := i*64 + bits.TrailingZeros64(w)
			if b >= pages {
				return true
			}
			w &= w - 1
		}
	}
	return false
}

// flushTo writes the buffered records and adds them to the writer's own
// index at once (for logs no reader sees until they are committed).
func (w *undoWriter) flushTo() error {
	entries, err := w.flush()
	if err != nil {
		return err
	}
	for _, e := range entries {
		w.ix.vols[e.vol][e.block] = e.e
		w.ix.records++
	}
	return nil
}
