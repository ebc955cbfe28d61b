//go:build !race

package replicasim_test

const (
	defaultSeeds = 200
	defaultSteps = 60
)
