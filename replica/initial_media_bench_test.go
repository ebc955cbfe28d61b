package replica_test

import (
	"fmt"
	"io"
	"math/rand/v2"
	"path/filepath"
	"testing"

	"github.com/blockrep/blockrep/replica"
	"github.com/stretchr/testify/require"
)

const benchInitialSize = 64 << 20

// benchGroup is a group of one 64 MiB volume of 64 KiB blocks, three
// quarters of them random, the rest zero.
func benchGroup(b *testing.B, seed uint64) (replica.GroupConfig, *memVolume) {
	cfg, vols := groupConfig(fmt.Sprintf("vm%d", seed), benchInitialSize, 1)
	cfg.BlockSize = 64 << 10
	rng := rand.New(rand.NewPCG(seed, 1))
	v := vols[0]
	for blk := 0; blk < benchInitialSize/cfg.BlockSize; blk++ {
		if blk%4 == 3 {
			continue
		}
		p := v.data[blk*cfg.BlockSize : (blk+1)*cfg.BlockSize]
		for i := 0; i < len(p); i += 8 {
			x := rng.Uint64()
			for j := range 8 {
				p[i+j] = byte(x >> (8 * j))
			}
		}
	}
	return cfg, v
}

// BenchmarkMediaExportImport64MiB measures a Media initial replication of
// a 64 MiB volume end to end: export to a directory, import on the
// replica, and the primary's check that finds the point.
func BenchmarkMediaExportImport64MiB(b *testing.B) {
	b.SetBytes(benchInitialSize)
	for i := range b.N {
		b.StopTimer()
		e := newEnv(b)
		cfg, _ := benchGroup(b, uint64(i+1))
		dir := filepath.Join(b.TempDir(), "usb")
		cfg.Initial = replica.InitialReplication{Mode: replica.Media, MediaDir: dir}
		rel, err := e.primary.Enable(e.ctx, cfg)
		require.NoError(b, err)
		b.StartTimer()
		_, err = rel.InitialReplication(e.ctx)
		require.NoError(b, err)
		_, err = e.replica.Import(e.ctx, dir)
		require.NoError(b, err)
		_, err = rel.InitialReplication(e.ctx)
		require.NoError(b, err)
		b.StopTimer()
		require.NoError(b, e.primary.Remove(e.ctx, cfg.ID))
		b.StartTimer()
	}
}

// BenchmarkSeedInitial64MiB1PercentDiff measures a Seed initial
// replication of a 64 MiB volume whose seed differs in 1% of its blocks,
// and reports the blocks sent and the hash traffic.
func BenchmarkSeedInitial64MiB1PercentDiff(b *testing.B) {
	b.SetBytes(benchInitialSize)
	var hashBytes, sent, diff int64
	for i := range b.N {
		b.StopTimer()
		e := newEnv(b)
		cfg, v := benchGroup(b, uint64(i+1))
		cfg.Initial.Mode = replica.Seed
		rel, err := e.primary.Enable(e.ctx, cfg)
		require.NoError(b, err)
		blocks := benchInitialSize / cfg.BlockSize
		seed := v.snapshot()
		rng := rand.New(rand.NewPCG(uint64(i+1), 2))
		for _, blk := range rng.Perm(blocks)[:blocks/100] {
			seed[blk*cfg.BlockSize+rng.IntN(cfg.BlockSize)] ^= 0x5a
		}
		_, err = e.replica.Seed(e.ctx, cfg.ID, []io.ReaderAt{bytesReaderAt(seed)})
		require.NoError(b, err)
		b.StartTimer()
		res, err := rel.InitialReplication(e.ctx)
		require.NoError(b, err)
		b.StopTimer()
		rs := rel.LastResync()
		hashBytes, sent, diff = rs.HashBytes, res.Blocks, int64(blocks/100)
		require.NoError(b, e.primary.Remove(e.ctx, cfg.ID))
		b.StartTimer()
	}
	b.ReportMetric(float64(sent), "blocks-sent")
	b.ReportMetric(float64(diff), "blocks-differing")
	b.ReportMetric(float64(hashBytes), "hash-bytes")
	b.ReportMetric(float64(hashBytes)*100/benchInitialSize, "hash-%-of-volume")
}
