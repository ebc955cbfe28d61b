package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
)

// lockName is the lock file every blockrep process that changes a store or
// a state directory holds while it runs (flock, exclusive). The kernel
// drops it when the process ends, however it ends, so a SIGKILLed serve
// leaves no stale lock.
const lockName = "blockrep.lock"

// errBusy is returned by lockDir when another process holds the lock.
var errBusy = errors.New("in use by another blockrep process")

// dirLock is a held lock on a directory.
type dirLock struct{ f *os.File }

// lockDir takes the exclusive lock of dir without waiting.
func lockDir(dir string) (*dirLock, error) {
	f, err := os.OpenFile(filepath.Join(dir, lockName), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("%s: %w", dir, errBusy)
		}
		return nil, fmt.Errorf("locking %s: %w", dir, err)
	}
	return &dirLock{f: f}, nil
}

// unlock releases the lock; it is idempotent.
func (l *dirLock) unlock() {
	if l != nil && l.f != nil {
		l.f.Close()
		l.f = nil
	}
}
