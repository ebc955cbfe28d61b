package delta

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"math/bits"
)

// State file layout (all integers little-endian):
//
//	0     superblock slot 0 (512 bytes)
//	512   superblock slot 1
//	1024… data: the dirty-set blob of the checkpoint in force, followed by
//	      its activity log; older checkpoints' regions until reused.
//
// A checkpoint writes a new blob where it cannot overlap the region in
// force, syncs, then writes the superblock with the next sequence number
// into slot seq%2. A torn superblock fails its checksum and the other slot,
// whose region is intact, stays in force. The sequence number is also the
// log epoch: a log record counts only when it carries the sequence of the
// superblock in force.
//
// An eager checkpoint (create, open, close) syncs again after the
// superblock. A lazy one (Frozen.Commit) does not: its single sync covers
// the blob and the log records of the extents it carries into the new
// epoch (written right after the blob, in the same write), and the
// superblock becomes durable with the next sync of the file. Until then:
//   - the previous checkpoint's region is kept too: the next checkpoint's
//     blob and the new epoch's log records do not overwrite it before a
//     sync (a log append that would syncs first);
//   - a failed sync fails the tracker, as the superblock may be lost;
//   - a crash recovers the previous checkpoint and its log: a superset of
//     the new state, as a commit only cleans blocks, and it covers the
//     carried extents, which were hot in its epoch.
//
// Marks need no such care: a Mark that waits for a log sync makes the
// superblock durable with its records.
//
// Superblock: magic "BRTRACK1", version u32, flags u32 (bit 0: clean
// close), seq u64, extent blocks u32, volume count u32, blob offset u64,
// blob length u64, log offset u64, blob CRC-32C u32, CRC-32C of the
// preceding 60 bytes u32.
//
// Blob: volume count uvarint, then per volume its size uvarint, block size
// uvarint and dirty block Set (Set.AppendBinary).
//
// Log record (32 bytes): magic u32, volume u32, seq u64, extent u64,
// CRC-32C of the preceding 24 bytes u32, zero u32.
const (
	stateSlotSize   = 512
	stateDataStart  = 2 * stateSlotSize
	stateAlign      = 512
	stateRecordSize = 32
	stateVersion    = 1
	stateMagic      = "BRTRACK1"
	stateRecMagic   = 0x474f4c52 // "RLOG"
	superblockSize  = 64
	// maxStateVolumes bounds the volumes of a tracked group.
	maxStateVolumes = 4096
)

var crc32c = crc32.MakeTable(crc32.Castagnoli)

type superblock struct {
	clean        bool
	seq          uint64
	extentBlocks uint32
	nvol         uint32
	blobOff      uint64
	blobLen      uint64
	logOff       uint64
	blobCRC      uint32
}

func (sb *superblock) marshal() []byte {
	b := make([]byte, stateSlotSize)
	copy(b, stateMagic)
	le := binary.LittleEndian
	le.PutUint32(b[8:], stateVersion)
	if sb.clean {
		le.PutUint32(b[12:], 1)
	}
	le.PutUint64(b[16:], sb.seq)
	le.PutUint32(b[24:], sb.extentBlocks)
	le.PutUint32(b[28:], sb.nvol)
	le.PutUint64(b[32:], sb.blobOff)
	le.PutUint64(b[40:], sb.blobLen)
	le.PutUint64(b[48:], sb.logOff)
	le.PutUint32(b[56:], sb.blobCRC)
	le.PutUint32(b[60:], crc32.Checksum(b[:60], crc32c))
	return b
}

func parseSuperblock(b []byte) (superblock, error) {
	if len(b) < superblockSize {
		return superblock{}, fmt.Errorf("superblock truncated")
	}
	le := binary.LittleEndian
	if string(b[:8]) != stateMagic {
		return superblock{}, fmt.Errorf("bad superblock magic")
	}
	if crc32.Checksum(b[:60], crc32c) != le.Uint32(b[60:]) {
		return superblock{}, fmt.Errorf("bad superblock checksum")
	}
	if v := le.Uint32(b[8:]); v != stateVersion {
		return superblock{}, fmt.Errorf("unknown state version %d", v)
	}
	flags := le.Uint32(b[12:])
	if flags&^1 != 0 {
		return superblock{}, fmt.Errorf("unknown superblock flags %#x", flags)
	}
	sb := superblock{
		clean:        flags&1 != 0,
		seq:          le.Uint64(b[16:]),
		extentBlocks: le.Uint32(b[24:]),
		nvol:         le.Uint32(b[28:]),
		blobOff:      le.Uint64(b[32:]),
		blobLen:      le.Uint64(b[40:]),
		logOff:       le.Uint64(b[48:]),
		blobCRC:      le.Uint32(b[56:]),
	}
	if sb.extentBlocks == 0 || sb.extentBlocks > 1<<20 || bits.OnesCount32(sb.extentBlocks) != 1 {
		return superblock{}, fmt.Errorf("bad extent size %d", sb.extentBlocks)
	}
	if sb.nvol == 0 || sb.nvol > maxStateVolumes {
		return superblock{}, fmt.Errorf("bad volume count %d", sb.nvol)
	}
	// The log starts at the first aligned offset after the blob; checking
	// that exactly keeps a forged offset from sending later writes far away.
	if sb.blobOff < stateDataStart || sb.blobOff > MaxVolumeSize || sb.blobLen > MaxVolumeSize ||
		sb.logOff != uint64(alignState(int64(sb.blobOff+sb.blobLen))) {
		return superblock{}, fmt.Errorf("bad data region")
	}
	return sb, nil
}

// encodeStateBlob encodes the dirty sets of a group.
func encodeStateBlob(geoms []Geometry, sets []*Set) []byte {
	b := binary.AppendUvarint(nil, uint64(len(geoms)))
	for i, g := range geoms {
		b = binary.AppendUvarint(b, uint64(g.Size))
		b = binary.AppendUvarint(b, uint64(g.BlockSize))
		b, _ = sets[i].AppendBinary(b)
	}
	return b
}

// maxStateBlob bounds the blob of a group: the worst-case Set encoding is
// about three bytes a block (alternating one-block runs).
func maxStateBlob(geoms []Geometry) int64 {
	n := int64(16)
	for _, g := range geoms {
		n += 64 + 3*g.Blocks()
	}
	return n
}

// decodeStateBlob decodes a blob written for exactly these geometries.
func decodeStateBlob(b []byte, geoms []Geometry) ([]*Set, error) {
	n, k := binary.Uvarint(b)
	if k <= 0 {
		return nil, corrupt(0, "state: bad volume count")
	}
	if n != uint64(len(geoms)) {
		return nil, fmt.Errorf("%w: state has %d volumes, group has %d", ErrMismatch, n, len(geoms))
	}
	p := k
	sets := make([]*Set, len(geoms))
	for i, g := range geoms {
		size, k := binary.Uvarint(b[p:])
		if k <= 0 {
			return nil, corrupt(int64(p), "state: bad volume size")
		}
		p += k
		bs, k := binary.Uvarint(b[p:])
		if k <= 0 {
			return nil, corrupt(int64(p), "state: bad block size")
		}
		p += k
		if size != uint64(g.Size) || bs != uint64(g.BlockSize) {
			return nil, fmt.Errorf("%w: state volume %d is %d bytes in %d-byte blocks, volume is %d in %d",
				ErrMismatch, i, size, bs, g.Size, g.BlockSize)
		}
		s, k, err := UnmarshalSet(b[p:], g.Blocks())
		if errors.Is(err, ErrLimit) {
			// The sizes above matched, so a larger set is damage, not a
			// limit of ours.
			return nil, corrupt(int64(p), fmt.Sprintf("state volume %d: %v", i, err))
		}
		if err != nil {
			return nil, fmt.Errorf("state volume %d: %w", i, err)
		}
		if s.Len() != g.Blocks() {
			return nil, fmt.Errorf("%w: state volume %d has %d blocks, volume has %d", ErrMismatch, i, s.Len(), g.Blocks())
		}
		p += k
		sets[i] = s
	}
	if p != len(b) {
		return nil, corrupt(int64(p), "state: trailing bytes after the dirty sets")
	}
	return sets, nil
}

func appendStateRecord(b []byte, vol int, seq uint64, extent int64) []byte {
	var r [stateRecordSize]byte
	le := binary.LittleEndian
	le.PutUint32(r[0:], stateRecMagic)
	le.PutUint32(r[4:], uint32(vol))
	le.PutUint64(r[8:], seq)
	le.PutUint64(r[16:], uint64(extent))
	le.PutUint32(r[24:], crc32.Checksum(r[:24], crc32c))
	return append(b, r[:]...)
}

// parseStateRecord decodes one log record; ok is false for anything that is
// not an intact record (the end of the log).
func parseStateRecord(r []byte) (vol uint32, seq uint64, extent uint64, ok bool) {
	le := binary.LittleEndian
	if le.Uint32(r[0:]) != stateRecMagic || le.Uint32(r[24:]) != crc32.Checksum(r[:24], crc32c) || le.Uint32(r[28:]) != 0 {
		return 0, 0, 0, false
	}
	return le.Uint32(r[4:]), le.Uint64(r[8:]), le.Uint64(r[16:]), true
}

func alignState(n int64) int64 { return (n + stateAlign - 1) &^ (stateAlign - 1) }

func crcOf(b []byte) uint32 { return crc32.Checksum(b, crc32c) }
