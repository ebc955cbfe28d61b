package checkpoint

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"os"

	"github.com/blockrep/blockrep/delta"
)

// Hash journal: rewriting the whole hash file on every apply would cost
// 32 bytes per block of every volume (512 MiB per apply for 1 TiB at
// 64 KiB blocks) however small the delta. Instead an apply appends the new
// hashes of the blocks it changed to a journal, syncs it, and the manifest
// commit records the journal's committed length; bytes past it (an apply
// that did not commit) are ignored and later overwritten. When the journal
// outgrows the hash file, an apply writes a fresh hash file and an empty
// journal instead (compaction), named by the same commit.
//
//	"BRHLOG1\n" | batch*
//	batch: u32 entries | entries × (u32 volume | u64 block | 32-byte hash) | u32 CRC-32C of the batch before
const (
	hashLogMagic = "BRHLOG1\n"
	hashLogEntry = 4 + 8 + delta.HashSize
)

// hashChangeOf is one block's new hash.
type hashChangeOf struct {
	vol   int
	block int64
	h     delta.Hash
}

// appendHashBatch appends one batch of entries to b.
func appendHashBatch(b []byte, entries []hashChangeOf) []byte {
	start := len(b)
	b = binary.LittleEndian.AppendUint32(b, uint32(len(entries)))
	for _, e := range entries {
		b = binary.LittleEndian.AppendUint32(b, uint32(e.vol))
		b = binary.LittleEndian.AppendUint64(b, uint64(e.block))
		b = append(b, e.h[:]...)
	}
	return binary.LittleEndian.AppendUint32(b, crc32.Checksum(b[start:], castagnoli))
}

// replayHashLog applies the committed journal b (magic included) to lists.
func replayHashLog(b []byte, lists []*delta.HashList) error {
	if len(b) < len(hashLogMagic) || string(b[:len(hashLogMagic)]) != hashLogMagic {
		return fmt.Errorf("bad header")
	}
	p := len(hashLogMagic)
	for p < len(b) {
		if len(b)-p < 8 {
			return fmt.Errorf("batch at %d: truncated", p)
		}
		n := int64(binary.LittleEndian.Uint32(b[p:]))
		end := int64(p) + 4 + n*hashLogEntry
		if end+4 > int64(len(b)) {
			return fmt.Errorf("batch at %d: %d entries run past the journal", p, n)
		}
		if crc32.Checksum(b[p:end], castagnoli) != binary.LittleEndian.Uint32(b[end:]) {
			return fmt.Errorf("batch at %d: checksum mismatch", p)
		}
		for q := int64(p) + 4; q < end; q += hashLogEntry {
			v := binary.LittleEndian.Uint32(b[q:])
			blk := binary.LittleEndian.Uint64(b[q+4:])
			if int(v) >= len(lists) || blk >= uint64(lists[v].Len()) {
				return fmt.Errorf("batch at %d: volume %d block %d outside the group", p, v, blk)
			}
			var h delta.Hash
			copy(h[:], b[q+12:q+12+delta.HashSize])
			lists[v].Set(int64(blk), h)
		}
		p = int(end + 4)
	}
	return nil
}

// compactAt is the journal length past which an apply rewrites the hash
// file instead of appending: the journal never costs more to read than the
// hash file it amends.
func compactAt(geoms []delta.Geometry) int64 {
	return max(maxHashFileSize(geoms), 1<<20)
}

// maxHashLogSize bounds a committed journal read from disk.
func maxHashLogSize(geoms []delta.Geometry) int64 {
	return 2*compactAt(geoms) + 64<<20
}

// persistHashes makes the live hash lists durable for the commit of m,
// whose blocks changed are the ones that differ from m's committed lists:
// it appends them to the journal (synced) and advances m.HashLogSize, or,
// when the journal would outgrow compactAt, writes a fresh hash file and
// journal (synced) and names them in m. It returns the files the commit
// makes obsolete and the files it created (to remove if the commit fails).
// The new files' directory entries are made durable by the commit.
func (g *dirGroup) persistHashes(m *manifest, changed []*delta.Set) (obsolete, created []string, err error) {
	var n int64
	for _, s := range changed {
		n += s.Count()
	}
	limit := compactAt(g.geoms)
	if g.s.opts.hashLogCompact > 0 {
		limit = g.s.opts.hashLogCompact
	}
	if m.HashLogSize+8+n*hashLogEntry > limit {
		hashName := m.newFile("hashes-", ".bin")
		logName := m.newFile("hashlog-", ".bin")
		created = []string{hashName, logName}
		hb, err := encodeHashes(g.hashes)
		if err == nil {
			err = writeSynced(g.fsys, g.path(hashName), hb)
		}
		if err == nil {
			err = writeSynced(g.fsys, g.path(logName), []byte(hashLogMagic))
		}
		if err != nil {
			return nil, created, err
		}
		obsolete = []string{m.Hashes, m.HashLog}
		m.Hashes, m.HashLog, m.HashLogSize = hashName, logName, int64(len(hashLogMagic))
		return obsolete, created, nil
	}
	entries := make([]hashChangeOf, 0, n)
	for v, s := range changed {
		for b := range s.All() {
			entries = append(entries, hashChangeOf{v, b, g.hashes[v].Get(b)})
		}
	}
	batch := appendHashBatch(nil, entries)
	f, err := g.fsys.OpenFile(g.path(m.HashLog), os.O_RDWR, 0)
	if err != nil {
		return nil, nil, err
	}
	// Bytes past the committed length belong to an apply that did not
	// commit: overwrite them.
	_, err = f.WriteAt(batch, m.HashLogSize)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return nil, nil, err
	}
	m.HashLogSize += int64(len(batch))
	return nil, nil, nil
}
