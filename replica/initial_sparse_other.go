//go:build !linux

package replica

// osSparse: holes of an *os.File are found on Linux only; elsewhere the
// initial scan reads the whole volume.
func osSparse(Volume) (SparseVolume, bool) { return nil, false }
