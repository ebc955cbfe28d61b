//go:build unix

package delta

import (
	"syscall"
	"time"
)

// scanCPU returns the CPU time (user + system) of the whole test process,
// so that the scan benchmarks can compare CPU cost on a loaded machine,
// where wall time also counts time spent waiting for a core.
func scanCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
