//go:build unix

package transport_test

import (
	"syscall"
	"time"
)

// processCPU returns the user and system CPU time the process has used, so
// benchmarks can report CPU per operation, which other load on the machine
// disturbs far less than wall time.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
