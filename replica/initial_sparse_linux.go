//go:build linux

package replica

import (
	"errors"
	"io"
	"os"
	"syscall"
)

// Linux lseek whence values (not in package syscall).
const (
	seekData = 3 // SEEK_DATA
	seekHole = 4 // SEEK_HOLE
)

// fileSparse finds an *os.File's data with lseek SEEK_DATA/SEEK_HOLE. It
// moves the file's offset, which ReadAt and WriteAt do not use.
type fileSparse struct{ f *os.File }

func osSparse(v Volume) (SparseVolume, bool) {
	f, ok := v.(*os.File)
	if !ok {
		return nil, false
	}
	return fileSparse{f}, true
}

func (s fileSparse) NextData(off int64) (start, end int64, err error) {
	start, err = s.f.Seek(off, seekData)
	if errors.Is(err, syscall.ENXIO) {
		return 0, 0, io.EOF // no data at or after off
	}
	if err != nil {
		return 0, 0, seekErr(err)
	}
	end, err = s.f.Seek(start, seekHole)
	if err != nil {
		return 0, 0, seekErr(err)
	}
	return start, end, nil
}

// seekErr says a file system (or file kind) without SEEK_DATA is
// unsupported, so the caller falls back to reading.
func seekErr(err error) error {
	if errors.Is(err, syscall.EINVAL) || errors.Is(err, syscall.EOPNOTSUPP) || errors.Is(err, syscall.ESPIPE) {
		return errors.Join(errors.ErrUnsupported, err)
	}
	return err
}
