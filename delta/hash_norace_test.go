//go:build !race

package delta

// hashTestRounds is how many rounds the randomized hashing and scanning
// tests run.
const hashTestRounds = 25
