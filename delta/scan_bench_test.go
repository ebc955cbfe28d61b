package delta

import (
	"context"
	"flag"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/zeebo/blake3"
	"golang.org/x/sync/errgroup"
)

var scanBenchSize = flag.Int64("delta.benchsize", 1<<30, "volume size of the scanning and hashing benchmarks")

// scanBenchFile writes a volume file of *scanBenchSize bytes into a
// temporary directory: "mixed" content is 1/8 zero pages, 1/4 pages of
// text and the rest random bytes; "random" has random pages only. It
// returns the open file.
func scanBenchFile(b *testing.B, kind string) (*os.File, Geometry) {
	b.Helper()
	g, err := NewGeometry(*scanBenchSize, DefaultBlockSize)
	if err != nil {
		b.Fatal(err)
	}
	f, err := os.Create(filepath.Join(b.TempDir(), "volume"))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = f.Close() })
	rng := rand.New(rand.NewPCG(1, 2))
	src := rand.NewChaCha8([32]byte{7})
	buf := make([]byte, 4<<20)
	for off := int64(0); off < g.Size; off += int64(len(buf)) {
		chunk := buf[:min(int64(len(buf)), g.Size-off)]
		_, _ = src.Read(chunk)
		if kind == "mixed" {
			for p := 0; p < len(chunk); p += PageSize {
				page := chunk[p:min(p+PageSize, len(chunk))]
				switch rng.IntN(8) {
				case 0:
					clear(page)
				case 1, 2:
					for i := range page {
						page[i] = "replica semantics for block volumes "[i%36]
					}
				}
			}
		}
		if _, err := f.WriteAt(chunk, off); err != nil {
			b.Fatal(err)
		}
	}
	// Let writeback finish so that it does not disturb the timed reads.
	if err := f.Sync(); err != nil {
		b.Fatal(err)
	}
	return f, g
}

// scanBenchChange rewrites 1% of the pages of f at random.
func scanBenchChange(b *testing.B, f *os.File, g Geometry) int {
	b.Helper()
	rng := rand.New(rand.NewPCG(3, 4))
	pages := hashPageCount(g)
	page := make([]byte, PageSize)
	changed := map[int64]bool{}
	for int64(len(changed)) < pages/100 {
		p := rng.Int64N(pages - 1) // keep the last page full
		changed[p] = true
		for i := range page {
			page[i] = byte(rng.Uint32())
		}
		if _, err := f.WriteAt(page, p*PageSize); err != nil {
			b.Fatal(err)
		}
	}
	if err := f.Sync(); err != nil {
		b.Fatal(err)
	}
	return len(changed)
}

var scanBenchKinds = []string{"mixed", "random"}

// BenchmarkScan scans a volume with 1% of its pages changed since the
// previous scan, with the default options (2 workers, 1 MiB reads).
func BenchmarkScan(b *testing.B) {
	for _, kind := range scanBenchKinds {
		b.Run(kind, func(b *testing.B) {
			f, g := scanBenchFile(b, kind)
			ctx := context.Background()
			first, err := Scan(ctx, f, g, nil)
			if err != nil {
				b.Fatal(err)
			}
			want := scanBenchChange(b, f, g)
			b.SetBytes(g.Size)
			b.ResetTimer()
			for b.Loop() {
				res, err := Scan(ctx, f, g, first.Hashes)
				if err != nil {
					b.Fatal(err)
				}
				if res.ChangedPages.Count() != int64(want) {
					b.Fatalf("scan found %d changed pages, want %d", res.ChangedPages.Count(), want)
				}
			}
		})
	}
}

// BenchmarkReadHashBaseline is the bar Scan must reach: read the same
// file in the same 1 MiB chunks with 2 goroutines and BLAKE3 every page
// with the fastest bare loop (one reused hasher a goroutine, see
// BenchmarkPageHash), keeping and comparing nothing.
func BenchmarkReadHashBaseline(b *testing.B) {
	for _, kind := range scanBenchKinds {
		b.Run(kind, func(b *testing.B) {
			f, g := scanBenchFile(b, kind)
			b.SetBytes(g.Size)
			b.ResetTimer()
			for b.Loop() {
				if err := scanBenchBaseline(f, g); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func scanBenchBaseline(f *os.File, g Geometry) error {
	chunks := (g.Size + DefaultHashChunk - 1) / DefaultHashChunk
	var eg errgroup.Group
	for w := range int64(DefaultHashWorkers) {
		eg.Go(func() error {
			buf := make([]byte, DefaultHashChunk)
			h := blake3.New()
			var sum [32]byte
			for c := w; c < chunks; c += DefaultHashWorkers {
				off := c * DefaultHashChunk
				n, err := f.ReadAt(buf[:min(DefaultHashChunk, g.Size-off)], off)
				if err != nil {
					return err
				}
				for p := 0; p < n; p += PageSize {
					h.Reset()
					_, _ = h.Write(buf[p:min(p+PageSize, n)])
					h.Sum(sum[:0])
				}
			}
			return nil
		})
	}
	return eg.Wait()
}

// BenchmarkScanVsBaseline alternates a baseline pass and a Scan over the
// same file, so that both see the same machine load, and reports the
// ratio of their times (below 1: Scan is faster).
func BenchmarkScanVsBaseline(b *testing.B) {
	for _, kind := range scanBenchKinds {
		b.Run(kind, func(b *testing.B) {
			f, g := scanBenchFile(b, kind)
			ctx := context.Background()
			first, err := Scan(ctx, f, g, nil)
			if err != nil {
				b.Fatal(err)
			}
			scanBenchChange(b, f, g)
			var base, scan, baseCPU, scanCPUTime time.Duration
			b.SetBytes(2 * g.Size)
			b.ResetTimer()
			for i := 0; b.Loop(); i++ {
				// Alternate which goes first, so neither always follows
				// the other's cache effects.
				for j := range 2 {
					t0, c0 := time.Now(), scanCPU()
					if (i+j)%2 == 0 {
						if err := scanBenchBaseline(f, g); err != nil {
							b.Fatal(err)
						}
						base += time.Since(t0)
						baseCPU += scanCPU() - c0
					} else {
						if _, err := Scan(ctx, f, g, first.Hashes); err != nil {
							b.Fatal(err)
						}
						scan += time.Since(t0)
						scanCPUTime += scanCPU() - c0
					}
				}
			}
			mb := float64(g.Size) * float64(b.N) / 1e6
			b.ReportMetric(mb/base.Seconds(), "baseline-MB/s")
			b.ReportMetric(mb/scan.Seconds(), "scan-MB/s")
			b.ReportMetric(scan.Seconds()/base.Seconds(), "scan/baseline")
			// CPU seconds a pass: on an idle 2-core machine wall time is
			// about half of it; on a loaded one it is the fairer measure.
			b.ReportMetric(baseCPU.Seconds()/float64(b.N), "baseline-cpu-s/op")
			b.ReportMetric(scanCPUTime.Seconds()/float64(b.N), "scan-cpu-s/op")
			if baseCPU > 0 {
				b.ReportMetric(scanCPUTime.Seconds()/baseCPU.Seconds(), "scan/baseline-cpu")
			}
		})
	}
}

// BenchmarkHashVolume hashes every 64 KiB block of the volume, as a
// checkpoint store or a resync does.
func BenchmarkHashVolume(b *testing.B) {
	for _, kind := range scanBenchKinds {
		b.Run(kind, func(b *testing.B) {
			f, g := scanBenchFile(b, kind)
			b.SetBytes(g.Size)
			b.ResetTimer()
			for b.Loop() {
				if _, err := HashVolume(context.Background(), f, g); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkPageHash compares ways to hash one 4 KiB page: blake3.Sum256,
// which sets up a fresh 8 KiB state each call, and the pageHasher that
// Scan uses, which resets one.
func BenchmarkPageHash(b *testing.B) {
	page := make([]byte, PageSize)
	_, _ = rand.NewChaCha8([32]byte{1}).Read(page)
	b.Run("Sum256", func(b *testing.B) {
		b.SetBytes(PageSize)
		var sink [32]byte
		for b.Loop() {
			sink = blake3.Sum256(page)
		}
		_ = sink
	})
	b.Run("pageHasher", func(b *testing.B) {
		b.SetBytes(PageSize)
		ph := newPageHasher()
		var sink PageHash
		for b.Loop() {
			sink = ph.sum(page)
		}
		_ = sink
	})
	b.Run("zero", func(b *testing.B) {
		b.SetBytes(PageSize)
		ph := newPageHasher()
		zero := make([]byte, PageSize)
		var sink PageHash
		for b.Loop() {
			sink = ph.sum(zero)
		}
		_ = sink
	})
}
