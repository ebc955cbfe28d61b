package checkpoint

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"

	"github.com/blockrep/blockrep/delta"
)

// cloneStateName is the file in a clone's directory that makes the clone
// reopenable: the point it was made from and, per volume, the blocks whose
// overlay content was durable at the clone's last Sync. It is replaced
// atomically by every Sync (temp file, fsync, rename, fsync of the
// directory), after the overlays were fsynced.
//
//	magic "BRCLONE1" (8 bytes)
//	point id (16 bytes)
//	volume count (uint32, big endian)
//	per volume: set length (uint32) and the delta.Set's binary encoding
//	CRC-32C of everything before (uint32)
const cloneStateName = "clone.state"

var cloneStateMagic = []byte("BRCLONE1")

// cloneState is the decoded content of a clone state file.
type cloneState struct {
	Point   delta.PointID
	Written []*delta.Set // one per volume
}

// maxCloneStateSize bounds a clone state file for geoms, checked before the
// file is read: the header, and per volume the worst run-length encoding
// of a set of its blocks (a varint is never longer than the value it
// encodes, and the gaps and lengths of the runs add up to at most the
// block count, so the runs take at most one byte a block) plus the
// encoding's framing.
func maxCloneStateSize(geoms []delta.Geometry) int64 {
	n := int64(len(cloneStateMagic) + 16 + 4 + 4)
	for _, g := range geoms {
		n += 4 + 32 + g.Blocks()
	}
	return n
}

func encodeCloneState(st cloneState) ([]byte, error) {
	b := append([]byte(nil), cloneStateMagic...)
	b = append(b, st.Point[:]...)
	b = binary.BigEndian.AppendUint32(b, uint32(len(st.Written)))
	for _, s := range st.Written {
		at := len(b)
		b = append(b, 0, 0, 0, 0)
		var err error
		if b, err = s.AppendBinary(b); err != nil {
			return nil, err
		}
		binary.BigEndian.PutUint32(b[at:], uint32(len(b)-at-4))
	}
	return binary.BigEndian.AppendUint32(b, crc32.Checksum(b, castagnoli)), nil
}

// decodeCloneState parses a clone state file of a group whose volumes have
// geoms. Every length is checked against the group before anything is
// allocated from it.
func decodeCloneState(b []byte, geoms []delta.Geometry) (cloneState, error) {
	var st cloneState
	if int64(len(b)) > maxCloneStateSize(geoms) {
		return st, fmt.Errorf("%d bytes exceeds the limit %d for %d volumes", len(b), maxCloneStateSize(geoms), len(geoms))
	}
	head := len(cloneStateMagic) + 16 + 4
	if len(b) < head+4 {
		return st, fmt.Errorf("%d bytes is too short", len(b))
	}
	if !bytes.Equal(b[:len(cloneStateMagic)], cloneStateMagic) {
		return st, errors.New("bad magic")
	}
	body, sum := b[:len(b)-4], binary.BigEndian.Uint32(b[len(b)-4:])
	if crc32.Checksum(body, castagnoli) != sum {
		return st, errors.New("checksum mismatch")
	}
	copy(st.Point[:], body[len(cloneStateMagic):])
	if st.Point.IsZero() {
		return st, errors.New("zero point id")
	}
	if n := binary.BigEndian.Uint32(body[head-4:]); int64(n) != int64(len(geoms)) {
		return st, fmt.Errorf("%d volumes, the group has %d", n, len(geoms))
	}
	rest := body[head:]
	for v, g := range geoms {
		if len(rest) < 4 {
			return st, fmt.Errorf("volume %d: set length missing", v)
		}
		n := binary.BigEndian.Uint32(rest)
		rest = rest[4:]
		if int64(n) > int64(len(rest)) {
			return st, fmt.Errorf("volume %d: set of %d bytes, %d left", v, n, len(rest))
		}
		s, used, err := delta.UnmarshalSet(rest[:n], g.Blocks())
		if err != nil {
			return st, fmt.Errorf("volume %d: %w", v, err)
		}
		if used != int(n) || s.Len() != g.Blocks() {
			return st, fmt.Errorf("volume %d: set of %d blocks in %d of %d bytes, the volume has %d blocks", v, s.Len(), used, n, g.Blocks())
		}
		st.Written = append(st.Written, s)
		rest = rest[n:]
	}
	if len(rest) != 0 {
		return st, fmt.Errorf("%d bytes after the last volume", len(rest))
	}
	return st, nil
}
