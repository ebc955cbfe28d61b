package checkpoint

import (
	"errors"
	"fmt"
)

// Sentinel errors of the checkpoint package. Errors from the delta package
// (delta.ErrCorrupt, delta.ErrLimit, ...) are wrapped through unchanged, so
// errors.Is works on both.
var (
	// ErrUnknownGroup is returned by Store.Group and Store.RemoveGroup when
	// no group of that id exists.
	ErrUnknownGroup = errors.New("checkpoint: unknown group")

	// ErrGroupExists is returned by Store.CreateGroup when the id is taken.
	ErrGroupExists = errors.New("checkpoint: group already exists")

	// ErrInvalidGroupID is returned by every Store method given a group id
	// that is not 1 to 255 characters of [A-Za-z0-9._-], or is "." or "..".
	ErrInvalidGroupID = errors.New("checkpoint: invalid group id")

	// ErrInvalidSpec is returned by Store.CreateGroup when the GroupSpec is
	// unusable (no volume, a bad size or block size, duplicate volume ids),
	// and by SetRetention for a negative count or spacing.
	ErrInvalidSpec = errors.New("checkpoint: invalid group spec")

	// ErrUnknownPoint is returned by Group methods given a point id that is
	// not in the chain (never applied, pruned, or discarded by Rollback), and
	// by reads of a view whose point was discarded by Rollback.
	ErrUnknownPoint = errors.New("checkpoint: unknown recovery point")

	// ErrNoPoint is returned by Group.Latest before the first delta was
	// applied.
	ErrNoPoint = errors.New("checkpoint: group has no recovery point yet")

	// ErrBaseMismatch is returned by Group.Apply when the delta's base point
	// is not the store's latest point (or its group is another group). The
	// store is unchanged.
	ErrBaseMismatch = errors.New("checkpoint: delta base is not the latest point")

	// ErrVolumeMismatch is returned by Group.Apply when the delta describes
	// another volume count, volume id, volume size or block size than the
	// group has (the store is unchanged), and by Group.Export given another
	// number of destinations than the group has volumes.
	ErrVolumeMismatch = errors.New("checkpoint: delta volumes do not match the group")

	// ErrPinned is returned by Rollback when a point it would discard is
	// pinned or open, and by RemoveGroup when the group has pins or open
	// views.
	ErrPinned = errors.New("checkpoint: recovery point is pinned")

	// ErrCloneExists is returned by Group.Clone when a clone of that name
	// exists; ErrUnknownClone by DiscardClone and OpenClone when none does
	// (for OpenClone also when only an interrupted Clone's leftovers do).
	ErrCloneExists  = errors.New("checkpoint: clone already exists")
	ErrUnknownClone = errors.New("checkpoint: unknown clone")

	// ErrInvalidName is returned by Pin, Unpin, Clone and OpenClone for a holder or
	// clone name that is empty, longer than 255 bytes, or (for clones) not
	// made of [A-Za-z0-9._-].
	ErrInvalidName = errors.New("checkpoint: invalid pin holder or clone name")

	// ErrVerifyFailed is returned by Group.Verify when the recomputed content
	// hash of a point differs from the one recorded when it was applied.
	ErrVerifyFailed = errors.New("checkpoint: recovery point content hash mismatch")

	// ErrDamaged is wrapped by every *DamagedError.
	ErrDamaged = errors.New("checkpoint: store damaged")

	// ErrClosed is returned by calls on a Store, Group, View or Clone after
	// its Close (or Discard), and by Group calls after Store.Close.
	ErrClosed = errors.New("checkpoint: closed")

	// ErrFailed is returned by calls on a group after an operation failed
	// and could not restore a committed state in place (the disk refused
	// the restoring writes too); reopening the store completes the recovery.
	ErrFailed = errors.New("checkpoint: group needs reopen after a failed recovery")
)

// DamagedError reports on-disk state that the store cannot trust: a missing
// or malformed manifest, a truncated or corrupt undo log, a volume file of
// the wrong size. The store never repairs such damage silently; the group
// stays unusable until an operator restores it or removes it.
type DamagedError struct {
	Group  string // group id
	File   string // path of the damaged file, relative to the group directory
	Reason string // what is wrong, in a few words
	Err    error  // underlying error, if any
}

func (e *DamagedError) Error() string {
	msg := fmt.Sprintf("checkpoint: group %q damaged: %s: %s", e.Group, e.File, e.Reason)
	if e.Err != nil {
		msg += ": " + e.Err.Error()
	}
	return msg
}

// Unwrap returns ErrDamaged and the underlying error, so errors.Is matches
// both.
func (e *DamagedError) Unwrap() []error {
	if e.Err != nil {
		return []error{ErrDamaged, e.Err}
	}
	return []error{ErrDamaged}
}

func damaged(group, file, reason string, err error) *DamagedError {
	return &DamagedError{Group: group, File: file, Reason: reason, Err: err}
}
