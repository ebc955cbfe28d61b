package replica_test

import (
	"context"
	"math/rand/v2"
	"testing"

	"github.com/blockrep/blockrep/checkpoint/vfs"
	"github.com/blockrep/blockrep/delta"
	"github.com/blockrep/blockrep/replica"
	"github.com/klauspost/compress/zstd"
	"github.com/stretchr/testify/require"
)

// BenchmarkResync1GiB1PercentDiff resynchronizes a 1 GiB volume of 64 KiB
// blocks of which 1% (163 blocks, half-compressible data) were changed
// behind the tracker's back, from the primary through the in-memory network
// into a checkpoint store on disk. Each operation reads and hashes the
// whole volume on both sides, compares the trees, and sends the
// differing blocks. Reported per operation: the delta stream's bytes
// (data-bytes/op), the hash traffic (hash-bytes/op), the zstd size of the
// differing blocks compressed one by one (compressed-bytes/op), the
// stream's ratio to it (x-compressed, target ≤ 1.2), and the hash traffic
// as a percentage of the compressed blocks (hash-%-of-compressed) and of
// every block hash of the volume (hash-%-of-all-hashes).
func BenchmarkResync1GiB1PercentDiff(b *testing.B) {
	const (
		size = 1 << 30
		bs   = 64 << 10
	)
	e := newEnv(b, withStoreDir(vfs.OS(), b.TempDir()))
	vol := newSparseVolume(size, bs)
	cfg := replica.GroupConfig{
		ID: "big", Replica: "replica:1", BlockSize: bs,
		Volumes: []replica.VolumeConfig{{Name: "disk", Volume: vol, Size: size}},
	}
	rel, err := e.primary.Enable(e.ctx, cfg)
	require.NoError(b, err)
	_, err = rel.InitialReplication(e.ctx)
	require.NoError(b, err)
	<-e.events

	rng := rand.New(rand.NewPCG(7, 7))
	nblocks := int64(size / bs)
	diff := int(nblocks / 100)
	data := make([]byte, bs)
	enc, err := zstd.NewWriter(nil)
	require.NoError(b, err)
	defer enc.Close()

	var stream, hashes, compressed int64
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		seen := make(map[int64]bool)
		for len(seen) < diff {
			blk := rng.Int64N(nblocks)
			if seen[blk] {
				continue
			}
			seen[blk] = true
			for j := 0; j < bs/2; j++ {
				data[j] = byte(rng.Uint32())
			}
			_, err := vol.WriteAt(data, blk*bs) // behind the tracker's back
			require.NoError(b, err)
			compressed += int64(len(enc.EncodeAll(data, nil)))
		}
		b.StartTimer()

		res, err := rel.Resynchronize(context.Background())
		require.NoError(b, err)
		<-e.events
		b.StopTimer()
		require.Equal(b, int64(diff), res.DifferingBlocks)
		require.Equal(b, int64(diff), res.Blocks)
		stream += res.StreamBytes
		hashes += res.HashBytes
		b.StartTimer()
	}
	b.StopTimer()
	n := float64(b.N)
	b.ReportMetric(float64(stream)/n, "data-bytes/op")
	b.ReportMetric(float64(hashes)/n, "hash-bytes/op")
	b.ReportMetric(float64(compressed)/n, "compressed-bytes/op")
	b.ReportMetric(float64(stream)/float64(compressed), "x-compressed")
	b.ReportMetric(float64(stream+hashes)/float64(compressed), "x-compressed-with-hashes")
	b.ReportMetric(100*float64(hashes)/float64(compressed), "hash-%-of-compressed")
	b.ReportMetric(100*float64(hashes)/n/float64(nblocks*delta.HashSize), "hash-%-of-all-hashes")
}
