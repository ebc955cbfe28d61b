//go:build !race

package delta

// Sizes of the heavier delta stream tests; the race detector gets smaller ones.
const (
	roundTripRuns  = 60
	roundTripBytes = 12 << 20
	flipAllBits    = true
)
