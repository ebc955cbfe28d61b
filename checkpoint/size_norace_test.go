//go:build !race

package checkpoint

// applies is how many deltas the concurrency test applies.
const applies = 25
