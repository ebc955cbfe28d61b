package checkpoint

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"strings"

	"github.com/blockrep/blockrep/delta"
)

// An undo log's index is kept beside it (undo/<n>.idx), written and synced
// before the commit that names the log, so that opening a view of an old
// point reads the indexes of its logs, not the logs themselves. A missing
// or unusable index only costs a full scan of the log (which also checks
// every record's checksum); it never changes what a view reads.
//
//	"BRUIDX1\n" | u64 log size | u64 records | entries | u32 CRC-32C of all before
//	entry: u32 volume | u64 block | u64 data offset | u16 mask words | mask words (u64)
const undoIndexMagic = "BRUIDX1\n"

func indexName(undo string) string { return strings.TrimSuffix(undo, ".undo") + ".idx" }

func encodeUndoIndex(ix *undoIndex, logSize int64) []byte {
	b := []byte(undoIndexMagic)
	b = binary.LittleEndian.AppendUint64(b, uint64(logSize))
	b = binary.LittleEndian.AppendUint64(b, uint64(ix.records))
	for v, m := range ix.vols {
		for blk, e := range m {
			b = binary.LittleEndian.AppendUint32(b, uint32(v))
			b = binary.LittleEndian.AppendUint64(b, uint64(blk))
			b = binary.LittleEndian.AppendUint64(b, uint64(e.off))
			b = binary.LittleEndian.AppendUint16(b, uint16(len(e.mask)))
			for _, w := range e.mask {
				b = binary.LittleEndian.AppendUint64(b, w)
			}
		}
	}
	return binary.LittleEndian.AppendUint32(b, crc32.Checksum(b, castagnoli))
}

// maxUndoIndexSize bounds the index of a log of records records.
func maxUndoIndexSize(records int64) int64 {
	return int64(len(undoIndexMagic)) + 20 + records*(22+8*delta.MaxPagesPerBlock/64)
}

// decodeUndoIndex checks an index against its log (size, record count,
// every entry inside the group and the log) and returns it.
func decodeUndoIndex(b []byte, logSize, records int64, geoms []delta.Geometry) (*undoIndex, error) {
	if len(b) < len(undoIndexMagic)+20 || string(b[:len(undoIndexMagic)]) != undoIndexMagic {
		return nil, fmt.Errorf("bad header")
	}
	body := b[:len(b)-4]
	if crc32.Checksum(body, castagnoli) != binary.LittleEndian.Uint32(b[len(body):]) {
		return nil, fmt.Errorf("checksum mismatch")
	}
	p := len(undoIndexMagic)
	if int64(binary.LittleEndian.Uint64(body[p:])) != logSize || int64(binary.LittleEndian.Uint64(body[p+8:])) != records {
		return nil, fmt.Errorf("index is of another log")
	}
	p += 16
	ix := newUndoIndex(len(geoms))
	for p < len(body) {
		if len(body)-p < 22 {
			return nil, fmt.Errorf("truncated entry")
		}
		v := binary.LittleEndian.Uint32(body[p:])
		blk := binary.LittleEndian.Uint64(body[p+4:])
		off := int64(binary.LittleEndian.Uint64(body[p+12:]))
		words := int(binary.LittleEndian.Uint16(body[p+20:]))
		p += 22
		if int(v) >= len(geoms) || blk >= uint64(geoms[v].Blocks()) || len(body)-p < 8*words {
			return nil, fmt.Errorf("entry outside the group")
		}
		g := geoms[v]
		pages := g.BlockPages(int64(blk))
		var mask delta.PageMask
		if words > 0 {
			if words != (pages+63)/64 {
				return nil, fmt.Errorf("bad mask")
			}
			mask = make(delta.PageMask, words)
			for i := range mask {
				mask[i] = binary.LittleEndian.Uint64(body[p+8*i:])
			}
			p += 8 * words
			if normMask(mask, pages) == nil || mask.Count(pages) == 0 || maskOutside(mask, pages) {
				return nil, fmt.Errorf("bad mask")
			}
		}
		_, blen := g.BlockBounds(int64(blk))
		if off < int64(undoHeaderSize) || off+int64(maskBytes(mask, blen)) > logSize {
			return nil, fmt.Errorf("entry outside the log")
		}
		if _, dup := ix.vols[v][int64(blk)]; dup {
			return nil, fmt.Errorf("duplicate entry")
		}
		ix.vols[v][int64(blk)] = undoEntry{off: off, mask: mask}
		ix.records++
	}
	if ix.records != records {
		return nil, fmt.Errorf("%d entries, log has %d records", ix.records, records)
	}
	return ix, nil
}

// removeLog removes an undo log and its index.
func (g *dirGroup) removeLog(name string) {
	removeIfExists(g.fsys, g.path(name))
	removeIfExists(g.fsys, g.path(indexName(name)))
}

// writeIndex writes and syncs the index of a log about to be committed.
func (g *dirGroup) writeIndex(name string, ix *undoIndex, size int64) error {
	return writeSynced(g.fsys, g.path(indexName(name)), encodeUndoIndex(ix, size))
}
