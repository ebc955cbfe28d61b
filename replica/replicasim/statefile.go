package replicasim

import (
	"github.com/blockrep/blockrep/checkpoint/vfs"
)

// stateFile makes a vfs.File a delta.StateFile, so that the primary's
// tracker keeps its state on a vfs.MemFS that the simulation can crash.
type stateFile struct{ vfs.File }

// Size returns the file's size.
func (f stateFile) Size() (int64, error) {
	fi, err := f.Stat()
	if err != nil {
		return 0, err
	}
	return fi.Size(), nil
}
