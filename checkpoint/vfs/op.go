package vfs

import (
	"fmt"
	"sync/atomic"
)

// OpKind says what a MemFS operation does, as seen by a Hook.
type OpKind uint8

// The kinds of operation a MemFS reports to its Hook and counts in Ops.
const (
	OpCreate   OpKind = iota + 1 // Create, or OpenFile with O_CREATE or O_TRUNC
	OpOpen                       // Open, or OpenFile without O_CREATE and O_TRUNC
	OpWrite                      // File.Write, File.WriteAt
	OpSync                       // File.Sync of a regular file
	OpTruncate                   // File.Truncate
	OpRename                     // FS.Rename
	OpRemove                     // FS.Remove, FS.RemoveAll
	OpMkdir                      // FS.MkdirAll
	OpSyncDir                    // FS.SyncDir, File.Sync of a directory
	OpRead                       // File.Read, File.ReadAt, FS.ReadDir
)

var opNames = [...]string{
	OpCreate:   "create",
	OpOpen:     "open",
	OpWrite:    "write",
	OpSync:     "sync",
	OpTruncate: "truncate",
	OpRename:   "rename",
	OpRemove:   "remove",
	OpMkdir:    "mkdir",
	OpSyncDir:  "syncdir",
	OpRead:     "read",
}

// String returns the kind's lower-case name, such as "write".
func (k OpKind) String() string {
	if int(k) < len(opNames) && opNames[k] != "" {
		return opNames[k]
	}
	return fmt.Sprintf("OpKind(%d)", uint8(k))
}

// Mutating reports whether operations of this kind can change the
// filesystem. Only OpRead and OpOpen cannot.
func (k OpKind) Mutating() bool { return k != OpRead && k != OpOpen }

// Op describes one MemFS operation about to run.
type Op struct {
	Kind OpKind
	// Path is the cleaned name the operation acts on (see MemFS for the
	// form): the file's name for File methods, the old name for OpRename.
	Path string
	// NewPath is the new name for OpRename, empty otherwise.
	NewPath string
	// Index counts the operations of every kind that the MemFS ran before
	// this one since it was made; the first has Index 0.
	Index int64
}

func (op Op) String() string {
	if op.NewPath != "" {
		return fmt.Sprintf("#%d %s %s -> %s", op.Index, op.Kind, op.Path, op.NewPath)
	}
	return fmt.Sprintf("#%d %s %s", op.Index, op.Kind, op.Path)
}

// Hook is called by a MemFS before each operation (see MemFS.SetHook). A
// non-nil result fails the operation without effect; the MemFS returns it
// wrapped in *fs.PathError or *os.LinkError.
type Hook func(op Op) error

// matches reports whether kind is one of kinds; no kinds matches every kind.
func matches(kind OpKind, kinds []OpKind) bool {
	if len(kinds) == 0 {
		return true
	}
	for _, k := range kinds {
		if k == kind {
			return true
		}
	}
	return false
}

// FailAt returns a Hook that fails the n-th operation (counting from 0)
// whose kind is one of kinds, or of any kind when kinds is empty, with
// ErrInjected, and lets every other operation run. The count is the hook's
// own, so the hook may be shared by several MemFS.
func FailAt(n int64, kinds ...OpKind) Hook {
	kinds = append([]OpKind(nil), kinds...)
	var seen atomic.Int64
	return func(op Op) error {
		if !matches(op.Kind, kinds) {
			return nil
		}
		if seen.Add(1)-1 == n {
			return fmt.Errorf("%w: %v", ErrInjected, op)
		}
		return nil
	}
}

// FailFrom returns a Hook like FailAt's that fails the n-th matching
// operation and every matching one after it, as a disk that went bad does.
func FailFrom(n int64, kinds ...OpKind) Hook {
	kinds = append([]OpKind(nil), kinds...)
	var seen atomic.Int64
	return func(op Op) error {
		if !matches(op.Kind, kinds) {
			return nil
		}
		if seen.Add(1)-1 >= n {
			return fmt.Errorf("%w: %v", ErrInjected, op)
		}
		return nil
	}
}
