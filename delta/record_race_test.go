//go:build race

package delta

// Sizes of the heavier delta stream tests under the race detector.
const (
	roundTripRuns  = 12
	roundTripBytes = 4 << 20
	flipAllBits    = false
)
