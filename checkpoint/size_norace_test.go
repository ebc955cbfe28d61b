//go:build !race

package checkpoint

// applies is how many deltas the concurrency test applies.
const applies = 25

// randomSteps is how many operations the random test runs per seed.
const randomSteps = 80
