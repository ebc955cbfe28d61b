//go:build !race

package replica_test

// crashStride is the step between the crash points TestCompleteFailoverCrash
// tries: every one.
const crashStride = 1
