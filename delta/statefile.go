package delta

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
)

// StateFile is where a persistent Tracker keeps its state: a plain file
// next to the volume in production, an in-memory fake in tests. The
// tracker writes at offsets it chooses and relies on Sync for durability.
type StateFile interface {
	// ReadAt reads as io.ReaderAt does.
	io.ReaderAt
	// WriteAt writes as io.WriterAt does; the data may be lost in a crash
	// until Sync returns.
	io.WriterAt
	// Sync makes every write and Truncate before it durable.
	Sync() error
	// Truncate sets the file's size.
	Truncate(size int64) error
	// Size returns the file's size.
	Size() (int64, error)
	// Close releases the file.
	Close() error
}

// osStateFile is a StateFile on an *os.File.
type osStateFile struct{ *os.File }

func (f osStateFile) Size() (int64, error) {
	fi, err := f.Stat()
	if err != nil {
		return 0, err
	}
	return fi.Size(), nil
}

// OpenStateFile opens the existing state file at path for a Tracker.
func OpenStateFile(path string) (StateFile, error) {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return nil, err
	}
	return osStateFile{f}, nil
}

// CreateStateFile creates (or empties) the state file at path and makes
// its directory entry durable.
func CreateStateFile(path string) (StateFile, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return nil, err
	}
	if err := syncDir(filepath.Dir(path)); err != nil {
		f.Close()
		return nil, err
	}
	return osStateFile{f}, nil
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("delta: sync directory %s: %w", dir, err)
	}
	return nil
}
