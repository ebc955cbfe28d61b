package delta

import (
	"context"
	"math/rand/v2"
	"path/filepath"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// benchOffsets returns page-aligned random offsets inside size bytes.
func benchOffsets(seed uint64, size int64, n int) []int64 {
	r := rand.New(rand.NewPCG(seed, 7))
	offs := make([]int64, n)
	for i := range offs {
		offs[i] = r.Int64N(size/PageSize) * PageSize
	}
	return offs
}

const benchFreezeEvery = 1 << 16

// reportCPU adds a cpu-ns/op metric: process CPU time per op since start.
func reportCPU(b *testing.B, start time.Duration, ok bool) {
	end, ok2 := processCPU()
	if ok && ok2 && b.N > 0 {
		b.ReportMetric(float64(end-start)/float64(b.N), "cpu-ns/op")
	}
}

// BenchmarkMark: one goroutine marks 4 KiB at random offsets of a 1 GiB
// volume; a cycle (Freeze, Commit) every 65536 marks keeps the bitmap from
// saturating and counts the cost of fresh generations.
func BenchmarkMark(b *testing.B) {
	g := mustGeometry(b, 1<<30, 0)
	tr, err := NewTracker([]Geometry{g})
	if err != nil {
		b.Fatal(err)
	}
	defer tr.Close()
	offs := benchOffsets(1, g.Size, 1<<20)
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	cpu, ok := processCPU()
	defer func() { reportCPU(b, cpu, ok) }()
	for i := range b.N {
		if err := tr.Mark(0, offs[i&(len(offs)-1)], PageSize); err != nil {
			b.Fatal(err)
		}
		if i%benchFreezeEvery == benchFreezeEvery-1 {
			f, err := tr.Freeze(ctx)
			if err != nil {
				b.Fatal(err)
			}
			if err := f.Commit(ctx); err != nil {
				b.Fatal(err)
			}
		}
	}
}

// BenchmarkMarkParallel: as BenchmarkMark from GOMAXPROCS goroutines (2 on
// the reference machine); ns/op is per mark across all of them, so
// per-goroutine latency is ns/op × goroutines.
func BenchmarkMarkParallel(b *testing.B) {
	g := mustGeometry(b, 1<<30, 0)
	tr, err := NewTracker([]Geometry{g})
	if err != nil {
		b.Fatal(err)
	}
	defer tr.Close()
	var seeds atomic.Uint64
	// Each goroutine counts its own marks: a shared counter would bounce a
	// cache line between cores on every mark and measure itself, not Mark.
	every := max(benchFreezeEvery/runtime.GOMAXPROCS(0), 1)
	ctx := context.Background()
	var freezeMu sync.Mutex
	b.SetParallelism(1)
	b.ReportAllocs()
	b.ResetTimer()
	cpu, ok := processCPU()
	defer func() { reportCPU(b, cpu, ok) }()
	b.RunParallel(func(pb *testing.PB) {
		offs := benchOffsets(seeds.Add(1), g.Size, 1<<20)
		i := 0
		for pb.Next() {
			if err := tr.Mark(0, offs[i&(len(offs)-1)], PageSize); err != nil {
				b.Error(err)
				return
			}
			i++
			if i%every == 0 {
				freezeMu.Lock()
				f, err := tr.Freeze(ctx)
				if err == nil {
					err = f.Commit(ctx)
				}
				freezeMu.Unlock()
				if err != nil {
					b.Error(err)
					return
				}
			}
		}
	})
}

// discardVolume reads zeros and drops writes: the benchmarks below measure
// the tracking, not a disk.
type discardVolume struct{}

func (discardVolume) ReadAt(p []byte, off int64) (int, error) {
	clear(p)
	return len(p), nil
}

func (discardVolume) WriteAt(p []byte, off int64) (int, error) { return len(p), nil }

// BenchmarkTrackedWrite: 4 KiB writes through a TrackedVolume at random
// offsets of a 1 GiB volume, with an in-memory tracker and with a
// persistent one (activity log on a real file with fsync); writes/s is
// 1e9 / (ns/op). "persistent-new-extent" makes every write the first of its
// extent, so each one appends a log record and waits for fsync: the
// worst case of resilient tracking.
func BenchmarkTrackedWrite(b *testing.B) {
	g := mustGeometry(b, 1<<30, 0)
	p := make([]byte, PageSize)
	run := func(b *testing.B, tr *Tracker, offs func(i int) int64) {
		defer tr.Close()
		tv, err := tr.Volume(0, discardVolume{})
		if err != nil {
			b.Fatal(err)
		}
		b.SetBytes(PageSize)
		b.ReportAllocs()
		b.ResetTimer()
		cpu, ok := processCPU()
		defer func() { reportCPU(b, cpu, ok) }()
		for i := range b.N {
			if _, err := tv.WriteAt(p, offs(i)); err != nil {
				b.Fatal(err)
			}
		}
	}
	random := benchOffsets(2, g.Size, 1<<20)
	randomAt := func(i int) int64 { return random[i&(len(random)-1)] }
	b.Run("memory", func(b *testing.B) {
		tr, err := NewTracker([]Geometry{g})
		if err != nil {
			b.Fatal(err)
		}
		run(b, tr, randomAt)
	})
	b.Run("persistent", func(b *testing.B) {
		tr, err := CreateTracker(filepath.Join(b.TempDir(), "bench.track"), []Geometry{g})
		if err != nil {
			b.Fatal(err)
		}
		// Steady state: every extent already logged in this epoch.
		if err := tr.Mark(0, 0, g.Size); err != nil {
			b.Fatal(err)
		}
		run(b, tr, randomAt)
	})
	b.Run("persistent-new-extent", func(b *testing.B) {
		big := mustGeometry(b, 1<<40, 0)
		tr, err := CreateTracker(filepath.Join(b.TempDir(), "bench.track"), []Geometry{big}, WithExtentBlocks(1))
		if err != nil {
			b.Fatal(err)
		}
		run(b, tr, func(i int) int64 { return int64(i) * int64(big.BlockSize) % big.Size })
	})
	// 16 writers, each write the first of its extent: appends are group
	// committed, so concurrent first writes share a sync.
	b.Run("persistent-new-extent-16-writers", func(b *testing.B) {
		big := mustGeometry(b, 1<<40, 0)
		tr, err := CreateTracker(filepath.Join(b.TempDir(), "bench.track"), []Geometry{big}, WithExtentBlocks(1))
		if err != nil {
			b.Fatal(err)
		}
		defer tr.Close()
		tv, err := tr.Volume(0, discardVolume{})
		if err != nil {
			b.Fatal(err)
		}
		var next atomic.Int64
		b.SetBytes(PageSize)
		b.SetParallelism(8)
		b.ResetTimer()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				off := next.Add(1) * int64(big.BlockSize) % big.Size
				if _, err := tv.WriteAt(p, off); err != nil {
					b.Error(err)
					return
				}
			}
		})
	})
}

// BenchmarkCaptureUnderWrites: capture a wholly dirty 64 MiB volume while
// a writer overwrites random 4 KiB pages; SetBytes makes MB/s the capture
// rate.
func BenchmarkCaptureUnderWrites(b *testing.B) {
	g := mustGeometry(b, 64<<20, 0)
	v := newMemVolume(g.Size)
	tr, err := NewTracker([]Geometry{g}, WithSpillDir(b.TempDir()))
	if err != nil {
		b.Fatal(err)
	}
	defer tr.Close()
	tv, err := tr.Volume(0, v)
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	page := make([]byte, PageSize)
	buf := make([]byte, g.BlockSize)
	offs := benchOffsets(3, g.Size, 1<<16)
	b.SetBytes(g.Size)
	b.ResetTimer()
	for range b.N {
		if err := tr.Mark(0, 0, g.Size); err != nil {
			b.Fatal(err)
		}
		f, err := tr.Freeze(ctx)
		if err != nil {
			b.Fatal(err)
		}
		stop := make(chan struct{})
		var wg sync.WaitGroup
		wg.Go(func() {
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				if _, err := tv.WriteAt(page, offs[i&(len(offs)-1)]); err != nil {
					b.Error(err)
					return
				}
			}
		})
		for blk := range f.Blocks(0).All() {
			if err := f.ReadBlock(0, blk, buf); err != nil {
				b.Error(err)
				break
			}
		}
		close(stop)
		wg.Wait()
		if err := f.Commit(ctx); err != nil {
			b.Fatal(err)
		}
	}
}
