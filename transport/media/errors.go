package media

import (
	"errors"
	"fmt"
)

// Sentinel errors of the media package, wrapped with %w (or inside a
// *PartError) so errors.Is works.
var (
	// ErrCorrupt is returned by Open, Reader.Read and Verify when the
	// manifest or a part fails a check: a checksum mismatch, a part of the
	// wrong size, a manifest that does not decode or names something other
	// than the expected part files, a part file the manifest does not list.
	ErrCorrupt = errors.New("media: corrupt stream")

	// ErrIncomplete is returned by Open and Verify when the directory has
	// no manifest (the writer did not finish: it crashed, was aborted, or
	// the copy of the directory stopped short) or a part the manifest lists
	// is missing.
	ErrIncomplete = errors.New("media: incomplete stream")

	// ErrClosed is returned by Writer.Write after Close or Abort, and by
	// Reader.Read after Close.
	ErrClosed = errors.New("media: closed")

	// ErrExists is returned by NewWriter when the directory already holds
	// the files of a stream (a manifest, a temporary manifest or a part).
	ErrExists = errors.New("media: directory already holds a stream")

	// ErrLimit is returned by Writer.Write when the stream would need more
	// parts than the limit (WithMaxParts), and by NewWriter, Open and Verify
	// when an option's value is outside its documented bounds.
	ErrLimit = errors.New("media: limit exceeded")
)

// PartError says which part of a stream failed and why. It wraps
// ErrIncomplete for a missing part and ErrCorrupt otherwise.
type PartError struct {
	Part   int    // part number, 1 for part-000001.bin; 0 when the name carries none
	Name   string // file name as found in the manifest or the directory
	Reason string // what is wrong, in a few words
	Err    error  // ErrCorrupt or ErrIncomplete
}

func (e *PartError) Error() string {
	return fmt.Sprintf("%v: part %d (%q): %s", e.Err, e.Part, e.Name, e.Reason)
}

func (e *PartError) Unwrap() error { return e.Err }

func corruptPart(part int, name, format string, args ...any) *PartError {
	return &PartError{Part: part, Name: name, Reason: fmt.Sprintf(format, args...), Err: ErrCorrupt}
}

// corruptManifest returns an error wrapping ErrCorrupt for a bad manifest.
func corruptManifest(format string, args ...any) error {
	return fmt.Errorf("%w: manifest: %s", ErrCorrupt, fmt.Sprintf(format, args...))
}
