package replica_test

import (
	"context"
	"io"
	"math/rand/v2"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/blockrep/blockrep/checkpoint"
	"github.com/blockrep/blockrep/checkpoint/vfs"
	"github.com/blockrep/blockrep/delta"
	"github.com/blockrep/blockrep/replica"
	"github.com/klauspost/compress/zstd"
	"github.com/stretchr/testify/require"
	"golang.org/x/sync/errgroup"
)

// sparseVolume is a large volume that holds only the blocks written to it;
// the rest reads as zeros. It keeps a 1 GiB benchmark's memory small.
type sparseVolume struct {
	size int64
	bs   int64
	mu   sync.RWMutex
	blks map[int64][]byte
}

func newSparseVolume(size int64, bs int) *sparseVolume {
	return &sparseVolume{size: size, bs: int64(bs), blks: make(map[int64][]byte)}
}

func (v *sparseVolume) ReadAt(p []byte, off int64) (int, error) {
	v.mu.RLock()
	defer v.mu.RUnlock()
	n := 0
	for n < len(p) {
		b, in := (off+int64(n))/v.bs, (off+int64(n))%v.bs
		m := min(int64(len(p)-n), v.bs-in)
		if blk, ok := v.blks[b]; ok {
			copy(p[n:n+int(m)], blk[in:])
		} else {
			clear(p[n : n+int(m)])
		}
		n += int(m)
	}
	return n, nil
}

func (v *sparseVolume) WriteAt(p []byte, off int64) (int, error) {
	v.mu.Lock()
	defer v.mu.Unlock()
	n := 0
	for n < len(p) {
		b, in := (off+int64(n))/v.bs, (off+int64(n))%v.bs
		blk, ok := v.blks[b]
		if !ok {
			blk = make([]byte, v.bs)
			v.blks[b] = blk
		}
		n += copy(blk[in:], p[n:])
	}
	return n, nil
}

// BenchmarkCycle1GiB1PercentDirty runs a cycle of a 1 GiB volume with 1%
// of its 64 KiB blocks dirty (164 blocks, half-compressible data), from
// the primary through the in-memory network into a checkpoint store on
// disk, and compares it with the bare work on the same blocks: read them,
// hash them (BLAKE3) and compress them (zstd), in parallel. Reported:
// ns/op of the cycle, baseline-ns/op, their ratio (x-baseline), the time
// the replica spends verifying and durably applying after the stream has
// arrived (replica-apply-ns/op), and the ratio without it.
func BenchmarkCycle1GiB1PercentDirty(b *testing.B) {
	const (
		size = 1 << 30
		bs   = 64 << 10
	)
	var applying time.Duration
	e := newEnv(b, withStoreDir(vfs.OS(), b.TempDir()), withStoreWrapper(func(s checkpoint.Store) checkpoint.Store {
		return timedStore{Store: s, d: &applying}
	}))
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

	rng := rand.New(rand.NewPCG(5, 5))
	nblocks := int64(size / bs)
	dirty := int(nblocks / 100)
	data := make([]byte, bs)
	enc, err := zstd.NewWriter(nil)
	require.NoError(b, err)
	defer enc.Close()

	var baseline time.Duration
	applying = 0
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		blocks := make([]int64, 0, dirty)
		seen := make(map[int64]bool)
		for len(blocks) < dirty {
			blk := rng.Int64N(nblocks)
			if seen[blk] {
				continue
			}
			seen[blk] = true
			blocks = append(blocks, blk)
			for j := 0; j < bs/2; j++ {
				data[j] = byte(rng.Uint32())
			}
			_, err := rel.Volume(0).WriteAt(data, blk*bs)
			require.NoError(b, err)
		}
		start := time.Now()
		readHashCompress(b, vol, blocks, bs, enc)
		baseline += time.Since(start)
		b.StartTimer()

		res, err := rel.Cycle(context.Background())
		require.NoError(b, err)
		<-e.events
		b.StopTimer()
		require.Equal(b, int64(dirty), res.Blocks)
		b.StartTimer()
	}
	b.StopTimer()
	per := float64(baseline.Nanoseconds()) / float64(b.N)
	b.ReportMetric(per, "baseline-ns/op")
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/per, "x-baseline")
	apply := float64(applying.Nanoseconds()) / float64(b.N)
	b.ReportMetric(apply, "replica-apply-ns/op")
	b.ReportMetric((float64(b.Elapsed().Nanoseconds())/float64(b.N)-apply)/per, "x-baseline-excl-apply")
}

// timedStore adds up the time the replica spends in Group.Apply after the
// stream has arrived (verifying and durably applying it).
type timedStore struct {
	checkpoint.Store
	d *time.Duration
}

func (s timedStore) Group(ctx context.Context, id string) (checkpoint.Group, error) {
	g, err := s.Store.Group(ctx, id)
	if err != nil {
		return nil, err
	}
	return timedGroup{Group: g, d: s.d}, nil
}

type timedGroup struct {
	checkpoint.Group
	d *time.Duration
}

// Apply counts the time from the end of the incoming stream to the commit:
// what the replica adds after the primary has sent everything.
func (g timedGroup) Apply(ctx context.Context, r io.Reader) (checkpoint.ApplyResult, error) {
	er := &eofReader{r: r}
	res, err := g.Group.Apply(ctx, er)
	if !er.at.IsZero() {
		*g.d += time.Since(er.at)
	}
	return res, err
}

type eofReader struct {
	r  io.Reader
	at time.Time
}

func (e *eofReader) Read(p []byte) (int, error) {
	n, err := e.r.Read(p)
	if err == io.EOF && e.at.IsZero() {
		e.at = time.Now()
	}
	return n, err
}

// readHashCompress is the floor of a cycle's work on the primary: read,
// hash and compress each dirty block, GOMAXPROCS at a time.
func readHashCompress(b *testing.B, vol *sparseVolume, blocks []int64, bs int, enc *zstd.Encoder) {
	var g errgroup.Group
	g.SetLimit(runtime.GOMAXPROCS(0))
	for _, blk := range blocks {
		g.Go(func() error {
			buf := make([]byte, bs)
			if _, err := vol.ReadAt(buf, blk*int64(bs)); err != nil {
				return err
			}
			_ = delta.HashBlock(buf)
			_ = enc.EncodeAll(buf, nil)
			return nil
		})
	}
	require.NoError(b, g.Wait())
}
