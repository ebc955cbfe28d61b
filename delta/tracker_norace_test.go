//go:build !race

package delta

// trackerScale multiplies the iteration counts of the heavy tracker tests;
// the race detector build shrinks them.
const trackerScale = 4
