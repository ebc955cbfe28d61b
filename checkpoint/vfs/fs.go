package vfs

import (
	"io"
	"io/fs"
)

// File is an open file of an FS. Its methods behave like those of *os.File,
// which implements it.
type File interface {
	io.Reader
	io.ReaderAt
	io.Writer
	io.WriterAt
	io.Seeker
	io.Closer

	// Sync makes the file's content and size durable: after it returns nil,
	// a crash leaves the file with exactly this content (for as long as a
	// durable directory entry names it). Syncing a directory handle makes
	// the directory's entries durable, like FS.SyncDir.
	Sync() error

	// Truncate changes the file's size, dropping bytes past size or
	// extending it with zeros. It does not move the handle's offset.
	Truncate(size int64) error

	// Stat describes the file as it is now, even after it was removed or
	// renamed.
	Stat() (fs.FileInfo, error)

	// Name returns the name the file was opened with.
	Name() string
}

// FS is the filesystem seam: the operations a durable store needs, with the
// meaning and the errors of the os package. OS returns the real filesystem;
// MemFS is an in-memory one for tests that can fail or crash on demand.
//
// Errors follow the os package: a missing name yields an error for which
// errors.Is(err, fs.ErrNotExist) holds, an existing one for O_EXCL yields
// fs.ErrExist, a full disk yields syscall.ENOSPC, a closed handle
// fs.ErrClosed.
type FS interface {
	// Create creates the named file, or truncates it if it exists, and
	// opens it read-write, like os.Create. The parent directory must exist.
	Create(name string) (File, error)

	// Open opens the named file or directory read-only, like os.Open.
	Open(name string) (File, error)

	// OpenFile opens the named file with os.O_* flags (O_RDONLY, O_WRONLY,
	// O_RDWR, O_CREATE, O_EXCL, O_TRUNC, O_APPEND) and, when it creates the
	// file, permission perm, like os.OpenFile.
	OpenFile(name string, flag int, perm fs.FileMode) (File, error)

	// Remove removes the named file or empty directory, like os.Remove.
	Remove(name string) error

	// RemoveAll removes name and everything below it; a missing name is not
	// an error, like os.RemoveAll.
	RemoveAll(name string) error

	// Rename moves oldpath to newpath, atomically replacing a file at
	// newpath, like os.Rename. The change is durable only after SyncDir of
	// both parent directories.
	Rename(oldpath, newpath string) error

	// MkdirAll creates dir and any missing parents with permission perm; an
	// existing directory is not an error, like os.MkdirAll.
	MkdirAll(dir string, perm fs.FileMode) error

	// ReadDir lists the entries of dir sorted by name, like os.ReadDir.
	ReadDir(dir string) ([]fs.DirEntry, error)

	// Stat describes the named file or directory, like os.Stat.
	Stat(name string) (fs.FileInfo, error)

	// SyncDir makes the entries of directory dir durable: every create,
	// rename and remove done in dir before the call survives a crash after
	// it returns nil. It fails with an error matching syscall.ENOTDIR when
	// dir is not a directory.
	SyncDir(dir string) error
}
