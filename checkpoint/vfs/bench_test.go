package vfs

import (
	"fmt"
	"testing"
)

// BenchmarkMemWriteAt measures 64 KiB block writes into a 64 MiB file, the
// checkpoint store's apply pattern.
func BenchmarkMemWriteAt(b *testing.B) {
	const block, blocks = 64 << 10, 1024
	m := NewMem()
	f, err := m.Create("vol")
	if err != nil {
		b.Fatal(err)
	}
	if err := f.Truncate(block * blocks); err != nil {
		b.Fatal(err)
	}
	buf := make([]byte, block)
	b.SetBytes(block)
	b.ResetTimer()
	for i := range b.N {
		if _, err := f.WriteAt(buf, int64(i%blocks)*block); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkMemSync measures Sync after a number of 64 KiB block writes:
// its cost follows the dirty pages, not the file size.
func BenchmarkMemSync(b *testing.B) {
	for _, dirty := range []int{1, 16} {
		b.Run(fmt.Sprintf("dirty=%d", dirty), func(b *testing.B) {
			const block, blocks = 64 << 10, 1024
			m := NewMem()
			f, err := m.Create("vol")
			if err != nil {
				b.Fatal(err)
			}
			if err := f.Truncate(block * blocks); err != nil {
				b.Fatal(err)
			}
			buf := make([]byte, block)
			b.SetBytes(int64(dirty * block))
			b.ResetTimer()
			for i := range b.N {
				for j := range dirty {
					if _, err := f.WriteAt(buf, int64((i*dirty+j)%blocks)*block); err != nil {
						b.Fatal(err)
					}
				}
				if err := f.Sync(); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkMemAppend measures 4 KiB appends, a log's pattern.
func BenchmarkMemAppend(b *testing.B) {
	m := NewMem()
	f, err := m.Create("log")
	if err != nil {
		b.Fatal(err)
	}
	buf := make([]byte, 4<<10)
	b.SetBytes(int64(len(buf)))
	b.ResetTimer()
	for range b.N {
		if _, err := f.Write(buf); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkMemCrash measures Crash of a MemFS holding 64 files of 256 KiB.
func BenchmarkMemCrash(b *testing.B) {
	m := NewMem()
	data := make([]byte, 256<<10)
	for i := range 64 {
		f, err := m.Create(fmt.Sprintf("f%d", i))
		if err != nil {
			b.Fatal(err)
		}
		if _, err := f.Write(data); err != nil {
			b.Fatal(err)
		}
		if err := f.Sync(); err != nil {
			b.Fatal(err)
		}
	}
	if err := m.SyncDir("."); err != nil {
		b.Fatal(err)
	}
	b.SetBytes(64 * int64(len(data)))
	b.ResetTimer()
	for range b.N {
		m.Clone().Crash()
	}
}
