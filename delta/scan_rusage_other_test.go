//go:build !unix

package delta

import "time"

// scanCPU is not measured on this system; the CPU metrics read 0.
func scanCPU() time.Duration { return 0 }
