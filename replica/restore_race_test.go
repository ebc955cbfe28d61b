//go:build race

package replica_test

// crashStride is the step between the crash points TestCompleteFailoverCrash
// tries: under the race detector every third (and the last).
const crashStride = 3
