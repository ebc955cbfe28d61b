//go:build race

package delta

// hashTestRounds is how many rounds the randomized hashing and scanning
// tests run; the race detector makes each round many times slower.
const hashTestRounds = 4
