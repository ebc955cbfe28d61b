//go:build !unix

package delta

import "time"

func processCPU() (time.Duration, bool) { return 0, false }
