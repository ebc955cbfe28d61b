//go:build !race

package media_test

// benchStreamSize is the stream size of the benchmarks: 256 MiB.
const benchStreamSize = 256 << 20
