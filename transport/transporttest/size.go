//go:build !race

package transporttest

// LargeTransfer is the number of bytes the large-transfer test streams
// through a connection; the race detector build streams less.
const LargeTransfer = 1 << 30
