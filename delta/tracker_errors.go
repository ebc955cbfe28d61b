package delta

import "errors"

// Sentinel errors of change tracking and capture.
var (
	// ErrFreezeOutstanding is returned by Tracker.Freeze while the previous
	// Frozen has been neither committed nor restored.
	ErrFreezeOutstanding = errors.New("delta: a frozen set is still outstanding")

	// ErrFrozenDone is returned by Frozen.Commit, Frozen.Restore,
	// Tracker.Restore and Frozen.ReadBlock when the Frozen was already
	// committed or restored (or its Tracker closed).
	ErrFrozenDone = errors.New("delta: frozen set already committed or restored")

	// ErrNotFrozen is returned by Frozen.ReadBlock for a block outside the
	// frozen set: its content as of the freeze is not preserved.
	ErrNotFrozen = errors.New("delta: block is not in the frozen set")

	// ErrCaptureExpired is returned by Frozen.ReadBlock when a block that was
	// already read once from the live volume has been overwritten since, so
	// its content as of the freeze is gone. Each block is read once by an
	// encode; to send the cycle again, Restore the Frozen and Freeze anew.
	ErrCaptureExpired = errors.New("delta: block overwritten after capture")

	// ErrNotAttached is returned by Frozen.ReadBlock and Tracker.BeginWrite
	// when copy-before-write needs to read a volume that was never attached
	// with Tracker.Attach or Tracker.Volume.
	ErrNotAttached = errors.New("delta: volume not attached to the tracker")
)
