package vfs

import (
	"io/fs"
	"os"
	"sync"
)

// WithHook wraps any FS, the real one included, so that hook runs before
// each of its operations as it does for a MemFS (see SetHook and OpKind):
// the same operations are counted, in one sequence, and an error from the
// hook fails the operation, wrapped in *fs.PathError or *os.LinkError,
// without calling fsys. Op.Path is the name as the caller passed it.
//
// Unlike MemFS's, this hook runs without a lock held, so concurrent callers
// run it concurrently: it must be safe for that (FailAt's and FailFrom's
// are) and may call fsys. It is meant for tests that need a fault, such as
// a failed fsync, on a real disk; MemFS alone can also crash.
func WithHook(fsys FS, hook Hook) FS {
	return &hookFS{fs: fsys, hook: hook}
}

type hookFS struct {
	fs   FS
	hook Hook
	mu   sync.Mutex
	ops  int64
}

var _ FS = (*hookFS)(nil)

// before numbers an operation and runs the hook.
func (h *hookFS) before(kind OpKind, p, np string) error {
	h.mu.Lock()
	index := h.ops
	h.ops++
	h.mu.Unlock()
	return h.hook(Op{Kind: kind, Path: p, NewPath: np, Index: index})
}

func (h *hookFS) wrap(f File, err error) (File, error) {
	if err != nil {
		return nil, err
	}
	return &hookFile{File: f, h: h}, nil
}

func (h *hookFS) Create(name string) (File, error) {
	if err := h.before(OpCreate, name, ""); err != nil {
		return nil, pathErr("open", name, err)
	}
	return h.wrap(h.fs.Create(name))
}

func (h *hookFS) Open(name string) (File, error) {
	if err := h.before(OpOpen, name, ""); err != nil {
		return nil, pathErr("open", name, err)
	}
	return h.wrap(h.fs.Open(name))
}

func (h *hookFS) OpenFile(name string, flag int, perm fs.FileMode) (File, error) {
	kind := OpOpen
	if flag&(os.O_CREATE|os.O_TRUNC) != 0 {
		kind = OpCreate
	}
	if err := h.before(kind, name, ""); err != nil {
		return nil, pathErr("open", name, err)
	}
	return h.wrap(h.fs.OpenFile(name, flag, perm))
}

func (h *hookFS) Remove(name string) error {
	if err := h.before(OpRemove, name, ""); err != nil {
		return pathErr("remove", name, err)
	}
	return h.fs.Remove(name)
}

func (h *hookFS) RemoveAll(name string) error {
	if err := h.before(OpRemove, name, ""); err != nil {
		return pathErr("RemoveAll", name, err)
	}
	return h.fs.RemoveAll(name)
}

func (h *hookFS) Rename(oldpath, newpath string) error {
	if err := h.before(OpRename, oldpath, newpath); err != nil {
		return &os.LinkError{Op: "rename", Old: oldpath, New: newpath, Err: err}
	}
	return h.fs.Rename(oldpath, newpath)
}

func (h *hookFS) MkdirAll(dir string, perm fs.FileMode) error {
	if err := h.before(OpMkdir, dir, ""); err != nil {
		return pathErr("mkdir", dir, err)
	}
	return h.fs.MkdirAll(dir, perm)
}

func (h *hookFS) ReadDir(dir string) ([]fs.DirEntry, error) {
	if err := h.before(OpRead, dir, ""); err != nil {
		return nil, pathErr("open", dir, err)
	}
	return h.fs.ReadDir(dir)
}

// Stat is not counted, as in MemFS.
func (h *hookFS) Stat(name string) (fs.FileInfo, error) { return h.fs.Stat(name) }

func (h *hookFS) SyncDir(dir string) error {
	if err := h.before(OpSyncDir, dir, ""); err != nil {
		return pathErr("sync", dir, err)
	}
	return h.fs.SyncDir(dir)
}

// hookFile runs the hook before the counted File methods; Seek, Stat,
// Close and Name pass through.
type hookFile struct {
	File
	h *hookFS
}

func (f *hookFile) Read(p []byte) (int, error) {
	if err := f.h.before(OpRead, f.Name(), ""); err != nil {
		return 0, pathErr("read", f.Name(), err)
	}
	return f.File.Read(p)
}

func (f *hookFile) ReadAt(p []byte, off int64) (int, error) {
	if err := f.h.before(OpRead, f.Name(), ""); err != nil {
		return 0, pathErr("read", f.Name(), err)
	}
	return f.File.ReadAt(p, off)
}

func (f *hookFile) Write(p []byte) (int, error) {
	if err := f.h.before(OpWrite, f.Name(), ""); err != nil {
		return 0, pathErr("write", f.Name(), err)
	}
	return f.File.Write(p)
}

func (f *hookFile) WriteAt(p []byte, off int64) (int, error) {
	if err := f.h.before(OpWrite, f.Name(), ""); err != nil {
		return 0, pathErr("write", f.Name(), err)
	}
	return f.File.WriteAt(p, off)
}

func (f *hookFile) Truncate(size int64) error {
	if err := f.h.before(OpTruncate, f.Name(), ""); err != nil {
		return pathErr("truncate", f.Name(), err)
	}
	return f.File.Truncate(size)
}

// Sync counts as OpSyncDir on a directory handle, as in MemFS.
func (f *hookFile) Sync() error {
	kind := OpSync
	if fi, err := f.File.Stat(); err == nil && fi.IsDir() {
		kind = OpSyncDir
	}
	if err := f.h.before(kind, f.Name(), ""); err != nil {
		return pathErr("sync", f.Name(), err)
	}
	return f.File.Sync()
}
