//go:build unix

package delta

import (
	"syscall"
	"time"
)

// processCPU returns the CPU time (user + system) the test process used so
// far; benchmarks report it per op, which stays meaningful on a loaded
// machine where wall-clock ns/op also counts time spent descheduled.
func processCPU() (time.Duration, bool) {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0, false
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()), true
}
