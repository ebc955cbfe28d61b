package main

import (
	"context"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	"github.com/blockrep/blockrep/delta"
)

// BenchmarkSyncScan measures what finding the changes costs a sync: a
// scan of a 64 MiB image file (half random, half zero) against the page
// hashes of the previous sync, with 1% of its pages changed. It reports
// the bytes of image scanned per second.
func BenchmarkSyncScan(b *testing.B) {
	const size = 64 << 20
	dir := b.TempDir()
	path := filepath.Join(dir, "disk.img")
	rng := rand.New(rand.NewPCG(1, 2))
	buf := make([]byte, size)
	for i := range buf[:size/2] {
		buf[i] = byte(rng.Uint32())
	}
	if err := os.WriteFile(path, buf, 0o644); err != nil {
		b.Fatal(err)
	}
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	g := &primaryGroup{
		dir:   stateDir{root: dir},
		st:    &groupState{Group: "g", Sizes: []int64{size}, BlockSize: delta.DefaultBlockSize, LastPoint: delta.PointID{1}},
		files: []*os.File{f},
	}
	if err := os.MkdirAll(g.dir.groupsDir(), 0o700); err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	scans, err := g.scanVolumes(ctx)
	if err != nil {
		b.Fatal(err)
	}
	if err := g.saveHashes(scans); err != nil {
		b.Fatal(err)
	}
	page := make([]byte, delta.PageSize)
	for range size / delta.PageSize / 100 {
		for i := range page {
			page[i] = byte(rng.Uint32())
		}
		if _, err := f.WriteAt(page, rng.Int64N(size/delta.PageSize)*delta.PageSize); err != nil {
			b.Fatal(err)
		}
	}
	b.SetBytes(size)
	b.ResetTimer()
	for b.Loop() {
		scans, err := g.scanVolumes(ctx)
		if err != nil {
			b.Fatal(err)
		}
		if scans[0].Blocks.Empty() {
			b.Fatal("no change found")
		}
	}
}
