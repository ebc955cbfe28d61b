package vfs

import "errors"

// Sentinel errors of the vfs package. MemFS returns them wrapped in
// *fs.PathError or *os.LinkError, so callers test with errors.Is.
var (
	// ErrCrashed is returned by every operation of a MemFS, and of every
	// File it opened, after MemFS.Crash was called or a crash point set with
	// MemFS.CrashAt was reached.
	ErrCrashed = errors.New("vfs: filesystem crashed")

	// ErrInjected is returned by the hooks FailAt and FailFrom make, when
	// they fail the operation they were told to fail.
	ErrInjected = errors.New("vfs: injected fault")
)
