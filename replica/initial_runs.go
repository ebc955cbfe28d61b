package replica

import "github.com/blockrep/blockrep/delta"

// fullStreamOpts are the encoder options of a stream from no base point
// (an initial replication, or its fallback): its dirty blocks are the
// whole volume, so consecutive blocks are compressed together as data
// runs of up to delta.MaxRunBytes (format version 2), which makes the
// full copy of mixed content about a fifth smaller than a frame per block.
// Every replica of this module reads version 2; deltas on a base keep
// version 1.
func fullStreamOpts(base delta.PointID) []delta.EncoderOption {
	if !base.IsZero() {
		return nil
	}
	return []delta.EncoderOption{delta.WithRunBytes(delta.MaxRunBytes)}
}
