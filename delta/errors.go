package delta

import (
	"errors"
	"fmt"
)

// Sentinel errors of the delta package. Every error this package returns
// for bad input wraps one of them, so callers test with errors.Is.
var (
	// ErrGeometry is returned by NewGeometry, Geometry.Validate and every
	// constructor given a block size or volume size outside the limits.
	ErrGeometry = errors.New("delta: invalid geometry")

	// ErrCorrupt is returned (inside a *CorruptError) when a delta stream,
	// an encoded Set, HashList or PageHashes, or a persisted tracker state
	// fails a check: a bad checksum, a truncated input, a length past the
	// limit its format states.
	ErrCorrupt = errors.New("delta: corrupt data")

	// ErrMismatch is returned when well-formed input does not fit the
	// target: another group, another base point, a different volume count,
	// size or block size.
	ErrMismatch = errors.New("delta: stream does not match target")

	// ErrLimit is returned when input is well-formed but exceeds a limit the
	// caller configured (a size, a count, a memory bound): by a Decoder past
	// its options' limits, by UnmarshalSet, UnmarshalHashList and
	// UnmarshalPageHashes past their maxLen argument, and by constructors
	// asked for more than the package supports.
	ErrLimit = errors.New("delta: limit exceeded")

	// ErrTrackingLost is returned by OpenTracker when the persisted state is
	// missing or unusable, so the set of changed blocks is unknown and the
	// caller must resynchronize the volumes.
	ErrTrackingLost = errors.New("delta: change tracking lost, resynchronization required")

	// ErrClosed is returned by calls on a Tracker, Encoder or Decoder after
	// Close.
	ErrClosed = errors.New("delta: closed")
)

// CorruptError says where and why input failed a check. It wraps ErrCorrupt.
type CorruptError struct {
	Offset int64  // byte offset in the input where the problem was found, -1 if unknown
	Volume int    // volume index, -1 if not tied to a volume
	Block  int64  // block index, -1 if not tied to a block
	Reason string // what was wrong, in a few words
}

func (e *CorruptError) Error() string {
	msg := "delta: corrupt data"
	if e.Offset >= 0 {
		msg += fmt.Sprintf(" at offset %d", e.Offset)
	}
	if e.Volume >= 0 {
		msg += fmt.Sprintf(" (volume %d", e.Volume)
		if e.Block >= 0 {
			msg += fmt.Sprintf(", block %d", e.Block)
		}
		msg += ")"
	}
	return msg + ": " + e.Reason
}

// Unwrap returns ErrCorrupt.
func (e *CorruptError) Unwrap() error { return ErrCorrupt }

func corrupt(off int64, reason string) *CorruptError {
	return &CorruptError{Offset: off, Volume: -1, Block: -1, Reason: reason}
}
