//go:build linux && !arm

package checkpoint

import (
	"os"
	"syscall"
)

// syncFileRangeWrite is SYNC_FILE_RANGE_WRITE: start writing out the dirty
// pages of the range that are not under write-out yet, without waiting.
const syncFileRangeWrite = 2

// startWriteback asks the kernel to start writing bytes [off, off+n) of f
// to its device now, rather than when memory runs short or the next sync
// comes, so that the sync that makes a first apply durable finds little
// left to write. It is a hint: a file that is not an *os.File (the
// in-memory file systems of tests) or a file system that refuses it is
// left to that sync, which alone makes the data durable.
func startWriteback(f any, off, n int64) {
	of, ok := f.(*os.File)
	if !ok || n <= 0 {
		return
	}
	rc, err := of.SyscallConn()
	if err != nil {
		return
	}
	_ = rc.Control(func(fd uintptr) {
		_ = syscall.SyncFileRange(int(fd), off, n, syncFileRangeWrite)
	})
}
