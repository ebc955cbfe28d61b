package vfs

import (
	"errors"
	"io"
	"io/fs"
	"maps"
	"path"
	"syscall"
)

// memFile is an open file of a MemFS: a node, an offset and the access
// mode it was opened with. Its state is guarded by the MemFS mutex.
type memFile struct {
	m      *MemFS
	n      *node
	name   string // as passed to OpenFile, for Name and errors
	path   string // cleaned, for hooks
	off    int64
	read   bool
	write  bool
	append bool
	closed bool
}

var (
	errNegativeOffset = errors.New("negative offset")
	errAppendWriteAt  = errors.New("vfs: invalid use of WriteAt on file opened with O_APPEND")
)

// start locks the MemFS and checks that the handle may be used; when kind
// is non-zero it also counts and hooks the operation. On error the lock is
// already released. torn is true, with the lock held and no error, when a
// write or truncate hits the crash point: the caller applies it to the
// volatile state, as power lost during a write leaves it in the page cache,
// and then fails with crashed.
func (f *memFile) start(op string, kind OpKind) (torn bool, err error) {
	f.m.mu.Lock()
	err = f.m.live()
	if err == nil && f.closed {
		err = fs.ErrClosed
	}
	if err == nil && kind != 0 {
		err = f.m.begin(kind, f.path, "")
		if err == errCrashPoint && (kind == OpWrite || kind == OpTruncate) {
			return true, nil
		}
	}
	if err != nil {
		f.m.mu.Unlock()
		return false, pathErr(op, f.name, err)
	}
	return false, nil
}

// crashed is the error of a write or truncate that hit the crash point.
func (f *memFile) crashed(op string) error { return pathErr(op, f.name, ErrCrashed) }

func (f *memFile) Name() string { return f.name }

func (f *memFile) Read(p []byte) (int, error) {
	if _, err := f.start("read", OpRead); err != nil {
		return 0, err
	}
	defer f.m.mu.Unlock()
	if len(p) == 0 {
		return 0, nil // as os does, before looking at the access mode
	}
	if err := f.readable("read"); err != nil {
		return 0, err
	}
	if f.off >= int64(len(f.n.data)) {
		return 0, io.EOF
	}
	n := copy(p, f.n.data[f.off:])
	f.off += int64(n)
	return n, nil
}

func (f *memFile) ReadAt(p []byte, off int64) (int, error) {
	if _, err := f.start("read", OpRead); err != nil {
		return 0, err
	}
	defer f.m.mu.Unlock()
	if off < 0 {
		return 0, pathErr("readat", f.name, errNegativeOffset)
	}
	if len(p) == 0 {
		return 0, nil // as os does, before looking at the access mode
	}
	if err := f.readable("read"); err != nil {
		return 0, err
	}
	n := 0
	if off < int64(len(f.n.data)) {
		n = copy(p, f.n.data[off:])
	}
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

// readable fails for a directory or a handle opened write-only.
func (f *memFile) readable(op string) error {
	switch {
	case f.n.dir:
		return pathErr(op, f.name, syscall.EISDIR)
	case !f.read:
		return pathErr(op, f.name, syscall.EBADF)
	}
	return nil
}

func (f *memFile) Write(p []byte) (int, error) {
	torn, err := f.start("write", OpWrite)
	if err != nil {
		return 0, err
	}
	defer f.m.mu.Unlock()
	off := f.off
	if f.append {
		off = int64(len(f.n.data))
	}
	if err := f.writeAt("write", p, off); err != nil || torn {
		if torn {
			err = f.crashed("write")
		}
		return 0, err
	}
	f.off = off + int64(len(p))
	return len(p), nil
}

func (f *memFile) WriteAt(p []byte, off int64) (int, error) {
	torn, err := f.start("write", OpWrite)
	if err != nil {
		return 0, err
	}
	defer f.m.mu.Unlock()
	switch {
	case torn && (f.append || off < 0):
		return 0, f.crashed("write")
	case f.append:
		return 0, errAppendWriteAt
	case off < 0:
		return 0, pathErr("writeat", f.name, errNegativeOffset)
	case len(p) == 0 && !torn:
		return 0, nil // as os does, before looking at the access mode
	}
	if err := f.writeAt("write", p, off); err != nil || torn {
		if torn {
			err = f.crashed("write")
		}
		return 0, err
	}
	return len(p), nil
}

// writeAt writes all of p at off or, failing, nothing.
func (f *memFile) writeAt(op string, p []byte, off int64) error {
	if !f.write {
		return pathErr(op, f.name, syscall.EBADF)
	}
	if len(p) == 0 {
		return nil
	}
	end := off + int64(len(p))
	if off > MaxMemFileSize {
		end = -1 // also when off+len(p) overflows
	}
	if err := f.m.room(f.n, end); err != nil {
		return pathErr(op, f.name, err)
	}
	old := int64(len(f.n.data))
	f.n.writeAt(p, off)
	if f.n.linked {
		f.m.used += int64(len(f.n.data)) - old
	}
	return nil
}

func (f *memFile) Seek(offset int64, whence int) (int64, error) {
	if _, err := f.start("seek", 0); err != nil {
		return 0, err
	}
	defer f.m.mu.Unlock()
	var base int64
	switch whence {
	case io.SeekStart:
	case io.SeekCurrent:
		base = f.off
	case io.SeekEnd:
		base = int64(len(f.n.data))
	default:
		return 0, pathErr("seek", f.name, syscall.EINVAL)
	}
	if base+offset < 0 {
		return 0, pathErr("seek", f.name, syscall.EINVAL)
	}
	f.off = base + offset
	return f.off, nil
}

// Sync makes the file's content durable, or, on a directory, its entries.
func (f *memFile) Sync() error {
	kind := OpSync
	if f.n.dir {
		kind = OpSyncDir
	}
	if _, err := f.start("sync", kind); err != nil {
		return err
	}
	defer f.m.mu.Unlock()
	if f.n.dir {
		f.n.durable = maps.Clone(f.n.entries)
	} else {
		f.n.sync()
	}
	return nil
}

func (f *memFile) Truncate(size int64) error {
	torn, err := f.start("truncate", OpTruncate)
	if err != nil {
		return err
	}
	defer f.m.mu.Unlock()
	switch {
	case !f.write || size < 0:
		err = pathErr("truncate", f.name, syscall.EINVAL)
	case f.m.room(f.n, size) != nil:
		err = pathErr("truncate", f.name, f.m.room(f.n, size))
	default:
		f.m.resize(f.n, size)
	}
	if torn {
		return f.crashed("truncate")
	}
	return err
}

func (f *memFile) Stat() (fs.FileInfo, error) {
	if _, err := f.start("stat", 0); err != nil {
		return nil, err
	}
	defer f.m.mu.Unlock()
	return f.n.info(path.Base(f.path)), nil
}

// Close releases the handle. A second Close returns fs.ErrClosed; after a
// crash Close marks the handle closed and returns ErrCrashed.
func (f *memFile) Close() error {
	f.m.mu.Lock()
	defer f.m.mu.Unlock()
	if f.closed {
		return pathErr("close", f.name, fs.ErrClosed)
	}
	f.closed = true
	if err := f.m.live(); err != nil {
		return pathErr("close", f.name, err)
	}
	return nil
}
