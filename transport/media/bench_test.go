package media_test

import (
	"io"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/blockrep/blockrep/transport/media"
)

// benchPartSize cuts the benchmark stream into several parts.
const benchPartSize = 64 << 20

// benchWrite writes size bytes into a new directory under base.
func benchWrite(b *testing.B, dir string, size int64, chunk []byte) {
	w, err := media.NewWriter(dir, media.WithPartSize(benchPartSize))
	if err != nil {
		b.Fatal(err)
	}
	for left := size; left > 0; {
		n := min(left, int64(len(chunk)))
		if _, err := w.Write(chunk[:n]); err != nil {
			b.Fatal(err)
		}
		left -= n
	}
	if err := w.Close(); err != nil {
		b.Fatal(err)
	}
}

func benchChunk(b *testing.B) []byte {
	chunk := randomBytes(b, 1<<20)
	return chunk
}

// BenchmarkWrite measures writing a stream of benchStreamSize bytes
// (parts of 64 MiB, each fsynced, and the manifest).
func BenchmarkWrite(b *testing.B) {
	chunk := benchChunk(b)
	base := b.TempDir()
	b.SetBytes(benchStreamSize)
	i := 0
	for b.Loop() {
		dir := filepath.Join(base, strconv.Itoa(i))
		benchWrite(b, dir, benchStreamSize, chunk)
		b.StopTimer()
		if err := os.RemoveAll(dir); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		i++
	}
}

// BenchmarkRead measures reading back and verifying a stream of
// benchStreamSize bytes (from the page cache: it was just written).
func BenchmarkRead(b *testing.B) {
	dir := filepath.Join(b.TempDir(), "stream")
	benchWrite(b, dir, benchStreamSize, benchChunk(b))
	b.SetBytes(benchStreamSize)
	for b.Loop() {
		r, err := media.Open(dir)
		if err != nil {
			b.Fatal(err)
		}
		n, err := io.Copy(io.Discard, r)
		if err != nil || n != benchStreamSize {
			b.Fatal(n, err)
		}
		if err := r.Close(); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkWriteRead measures the whole trip: write, then read back and
// verify, per stream of benchStreamSize bytes.
func BenchmarkWriteRead(b *testing.B) {
	chunk := benchChunk(b)
	base := b.TempDir()
	b.SetBytes(benchStreamSize)
	i := 0
	for b.Loop() {
		dir := filepath.Join(base, strconv.Itoa(i))
		benchWrite(b, dir, benchStreamSize, chunk)
		r, err := media.Open(dir)
		if err != nil {
			b.Fatal(err)
		}
		if n, err := io.Copy(io.Discard, r); err != nil || n != benchStreamSize {
			b.Fatal(n, err)
		}
		if err := r.Close(); err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		if err := os.RemoveAll(dir); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		i++
	}
}
