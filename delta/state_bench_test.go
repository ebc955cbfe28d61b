package delta

import (
	"context"
	"path/filepath"
	"sync/atomic"
	"testing"
)

// countingStateFile counts the syncs of a StateFile.
type countingStateFile struct {
	StateFile
	syncs atomic.Int64
}

func (c *countingStateFile) Sync() error {
	c.syncs.Add(1)
	return c.StateFile.Sync()
}

// BenchmarkCommit: a persistent tracker on a file in the test's temporary
// directory (real fsyncs) over a 256 MiB volume of 64 KiB blocks; each op
// is one cycle's tracker work: 40 one-page marks at random offsets, Freeze,
// Commit. "commit" times Freeze+Commit alone (the marks run with the timer
// stopped) with the marks in a steady working set of 40 pages; "cycle"
// times everything with fresh random pages each op, so most marks find
// their extent cold. syncs/op counts the state file's syncs.
func BenchmarkCommit(b *testing.B) {
	for _, bc := range []struct {
		name   string
		steady bool
		timed  bool
	}{
		{"commit", true, false},
		{"cycle", false, true},
	} {
		b.Run(bc.name, func(b *testing.B) {
			g := mustGeometry(b, 256<<20, 64<<10)
			f, err := CreateStateFile(filepath.Join(b.TempDir(), "t.track"))
			if err != nil {
				b.Fatal(err)
			}
			cf := &countingStateFile{StateFile: f}
			tr, err := CreateTrackerFile(cf, []Geometry{g})
			if err != nil {
				f.Close()
				b.Fatal(err)
			}
			defer tr.Close()
			offs := benchOffsets(3, g.Size, 40*1024)
			ctx := context.Background()
			b.ReportAllocs()
			b.ResetTimer()
			cf.syncs.Store(0)
			for i := range b.N {
				if !bc.timed {
					b.StopTimer()
				}
				base := 0
				if !bc.steady {
					base = (i % 1024) * 40
				}
				for _, off := range offs[base : base+40] {
					if err := tr.Mark(0, off, PageSize); err != nil {
						b.Fatal(err)
					}
				}
				if !bc.timed {
					b.StartTimer()
				}
				fz, err := tr.Freeze(ctx)
				if err != nil {
					b.Fatal(err)
				}
				if err := fz.Commit(ctx); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(cf.syncs.Load())/float64(b.N), "syncs/op")
		})
	}
}
