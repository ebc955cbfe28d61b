//go:build race

package media_test

// benchStreamSize is smaller under the race detector, which slows
// hashing and copying tenfold.
const benchStreamSize = 16 << 20
