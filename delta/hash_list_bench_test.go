package delta

import "testing"

// BenchmarkHashListRoot measures a volume's root over 1 Mi blocks (64 GiB
// at 64 KiB blocks): built from scratch, and after a cycle changed 1000
// blocks, which rehashes only their paths.
func BenchmarkHashListRoot(b *testing.B) {
	g := Geometry{Size: 1 << 36, BlockSize: DefaultBlockSize}
	l, err := NewHashList(g)
	if err != nil {
		b.Fatal(err)
	}
	for i := range l.Len() {
		l.hashes[i] = Hash{byte(i), byte(i >> 8), byte(i >> 16)}
	}
	b.Run("full", func(b *testing.B) {
		for b.Loop() {
			_ = l.Clone().Root()
		}
	})
	b.Run("after1000", func(b *testing.B) {
		_ = l.Root()
		var n byte
		for b.Loop() {
			n++
			for i := range int64(1000) {
				l.Set(i*1021%l.Len(), Hash{n, byte(i)})
			}
			_ = l.Root()
		}
	})
}
