package vfs

import (
	"syscall"
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// errENOSPC is the error a full MemFS wraps.
func errENOSPC() error { return syscall.ENOSPC }
