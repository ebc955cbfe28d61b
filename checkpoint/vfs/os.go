package vfs

import (
	"io/fs"
	"os"
	"syscall"
)

// OS returns the real filesystem, the os package. Names are passed to the
// os package unchanged, so relative names resolve against the process's
// working directory.
func OS() FS { return osFS{} }

// osFS is FS on the os package. It carries no state.
type osFS struct{}

// noFile turns a failed os call into a nil File interface, never a typed
// nil *os.File.
func noFile(f *os.File, err error) (File, error) {
	if err != nil {
		return nil, err
	}
	return f, nil
}

func (osFS) Create(name string) (File, error) { return noFile(os.Create(name)) }

func (osFS) Open(name string) (File, error) { return noFile(os.Open(name)) }

func (osFS) OpenFile(name string, flag int, perm fs.FileMode) (File, error) {
	return noFile(os.OpenFile(name, flag, perm))
}

func (osFS) Remove(name string) error { return os.Remove(name) }

func (osFS) RemoveAll(name string) error { return os.RemoveAll(name) }

func (osFS) Rename(oldpath, newpath string) error { return os.Rename(oldpath, newpath) }

func (osFS) MkdirAll(dir string, perm fs.FileMode) error { return os.MkdirAll(dir, perm) }

func (osFS) ReadDir(dir string) ([]fs.DirEntry, error) { return os.ReadDir(dir) }

func (osFS) Stat(name string) (fs.FileInfo, error) { return os.Stat(name) }

// SyncDir opens dir and fsyncs it, which on Linux and the BSDs commits the
// directory's entries.
func (osFS) SyncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	fi, err := d.Stat()
	if err == nil && !fi.IsDir() {
		err = &fs.PathError{Op: "sync", Path: dir, Err: syscall.ENOTDIR}
	}
	if err == nil {
		err = syncDirHandle(d)
	}
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}

var (
	_ FS   = osFS{}
	_ File = (*os.File)(nil)
)
