//go:build race

package replicasim_test

const (
	defaultSeeds = 30
	defaultSteps = 60
)
