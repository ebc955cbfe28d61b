package delta

import (
	"errors"
	"fmt"
)

// recoveredState is what a state file says is dirty.
type recoveredState struct {
	sb      superblock
	sets    []*Set
	logEnd  int64 // end of the intact log records
	hotLogs int   // log records applied
}

// stateLogChunk is how many log records recovery reads at a time.
const stateLogChunk = 2048

// readState reads and checks a state file for a group with geoms. Every
// error wraps ErrTrackingLost (and ErrCorrupt or ErrMismatch, or the I/O
// error, saying why); nothing is allocated past the file's size or the
// group's bound.
func readState(f StateFile, geoms []Geometry) (*recoveredState, error) {
	rs, err := readStateInner(f, geoms)
	var ioErr stateIOError
	switch {
	case err == nil:
		return rs, nil
	case errors.As(err, &ioErr):
		// The file could not be read: that says nothing about its content,
		// so the caller may retry rather than resynchronize.
		return nil, fmt.Errorf("delta: read tracker state: %w", ioErr.err)
	default:
		return nil, fmt.Errorf("%w: %w", ErrTrackingLost, err)
	}
}

// stateIOError marks a failure of the StateFile itself during recovery.
type stateIOError struct{ err error }

func (e stateIOError) Error() string { return e.err.Error() }

func readStateInner(f StateFile, geoms []Geometry) (*recoveredState, error) {
	size, err := f.Size()
	if err != nil {
		return nil, stateIOError{fmt.Errorf("state file size: %w", err)}
	}
	if size == 0 {
		return nil, corrupt(0, "state file is empty")
	}
	if size < stateDataStart {
		return nil, corrupt(size, "state file truncated")
	}
	slots := make([]byte, stateDataStart)
	if err := readFullAt(f, slots, 0); err != nil {
		return nil, stateIOError{fmt.Errorf("read superblocks: %w", err)}
	}
	var sb superblock
	found := false
	var why error
	for i := range 2 {
		s, err := parseSuperblock(slots[i*stateSlotSize : (i+1)*stateSlotSize])
		if err != nil {
			why = err
			continue
		}
		if s.seq%2 != uint64(i) {
			why = fmt.Errorf("superblock seq %d in slot %d", s.seq, i)
			continue
		}
		if !found || s.seq > sb.seq {
			sb, found = s, true
		}
	}
	if !found {
		return nil, corrupt(0, fmt.Sprintf("no valid superblock (%v)", why))
	}
	if int(sb.nvol) != len(geoms) {
		return nil, fmt.Errorf("%w: state has %d volumes, group has %d", ErrMismatch, sb.nvol, len(geoms))
	}
	if limit := maxStateBlob(geoms); sb.blobLen > uint64(limit) {
		return nil, corrupt(int64(sb.blobOff), fmt.Sprintf("dirty-set blob of %d bytes exceeds %d", sb.blobLen, limit))
	}
	// The log may start past the end of the file: it is empty then.
	if sb.blobOff+sb.blobLen > uint64(size) {
		return nil, corrupt(int64(sb.blobOff), "state file truncated before its data")
	}
	blob := make([]byte, sb.blobLen)
	if err := readFullAt(f, blob, int64(sb.blobOff)); err != nil {
		return nil, stateIOError{fmt.Errorf("read dirty-set blob: %w", err)}
	}
	if crcOf(blob) != sb.blobCRC {
		return nil, corrupt(int64(sb.blobOff), "dirty-set blob checksum mismatch")
	}
	sets, err := decodeStateBlob(blob, geoms)
	if err != nil {
		return nil, err
	}
	rs := &recoveredState{sb: sb, sets: sets, logEnd: int64(sb.logOff)}
	if sb.clean {
		return rs, nil
	}
	if err := rs.replayLog(f, geoms, size); err != nil {
		return nil, err
	}
	return rs, nil
}

// replayLog marks dirty every block of every extent logged in the epoch of
// the superblock in force. The log ends at the first record that is not
// intact or belongs to an older epoch; a record of a newer epoch means the
// file went back in time, and the state cannot be trusted.
func (rs *recoveredState) replayLog(f StateFile, geoms []Geometry, size int64) error {
	eb := int64(rs.sb.extentBlocks)
	buf := make([]byte, stateLogChunk*stateRecordSize)
	pos := int64(rs.sb.logOff)
	for pos+stateRecordSize <= size {
		n := min(int64(len(buf)), (size-pos)/stateRecordSize*stateRecordSize)
		chunk := buf[:n]
		if err := readFullAt(f, chunk, pos); err != nil {
			return stateIOError{fmt.Errorf("read activity log: %w", err)}
		}
		for i := int64(0); i < n; i += stateRecordSize {
			vol, seq, ext, ok := parseStateRecord(chunk[i : i+stateRecordSize])
			if !ok || seq < rs.sb.seq {
				return nil
			}
			at := pos + i
			if seq > rs.sb.seq {
				return corrupt(at, fmt.Sprintf("log record of epoch %d after superblock of epoch %d", seq, rs.sb.seq))
			}
			if int(vol) >= len(geoms) {
				return &CorruptError{Offset: at, Volume: int(vol), Block: -1, Reason: "log record for a volume outside the group"}
			}
			blocks := geoms[vol].Blocks()
			if ext >= uint64((blocks+eb-1)/eb) {
				return &CorruptError{Offset: at, Volume: int(vol), Block: -1, Reason: fmt.Sprintf("log record for extent %d outside the volume", ext)}
			}
			start := int64(ext) * eb
			rs.sets[vol].AddRange(start, min(eb, blocks-start))
			rs.hotLogs++
			rs.logEnd = at + stateRecordSize
		}
		pos += n
	}
	return nil
}
