package checkpoint

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/blockrep/blockrep/checkpoint/vfs"
)

// benchCloneGroup makes, on the real filesystem, a group of one 64 MiB
// volume of 64 KiB blocks with one point, and a clone of it.
func benchCloneGroup(b *testing.B) (*world, *DirStore, Group, Clone) {
	w := newWorld(b, 90, "vm1", 64<<10, 64<<20)
	st, err := Open(vfs.OS(), b.TempDir())
	require.NoError(b, err)
	g, err := st.CreateGroup(context.Background(), "vm1", w.spec)
	require.NoError(b, err)
	apply(b, g, w.next(change{blocks: 16}))
	c, err := g.Clone(context.Background(), w.latest(), "bench")
	require.NoError(b, err)
	return w, st, g, c
}

// BenchmarkCloneSync measures writing 64 whole blocks (4 MiB) to a clone
// and making them durable with Sync: the overlay fsync and the atomic
// state-file replacement.
func BenchmarkCloneSync(b *testing.B) {
	w, st, _, c := benchCloneGroup(b)
	defer st.Close()
	buf := make([]byte, 64<<10)
	fillRand(w.rng, buf)
	b.SetBytes(64 * int64(len(buf)))
	b.ResetTimer()
	for range b.N {
		for range 64 {
			off := w.rng.Int64N(1024) * int64(len(buf))
			if _, err := c.Volumes()[0].WriteAt(buf, off); err != nil {
				b.Fatal(err)
			}
		}
		if err := c.Sync(); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkOpenClone measures reopening, after a restart, a clone with
// 10% of its blocks written: opening the store and the group, reading and
// checking the state file, opening the overlay and the point's view.
func BenchmarkOpenClone(b *testing.B) {
	ctx := context.Background()
	w, st, _, c := benchCloneGroup(b)
	buf := make([]byte, 64<<10)
	for blk := int64(0); blk < 1024; blk += 10 {
		if _, err := c.Volumes()[0].WriteAt(buf, blk*int64(len(buf))); err != nil {
			b.Fatal(err)
		}
	}
	require.NoError(b, c.Sync())
	require.NoError(b, st.Close())
	b.ResetTimer()
	for range b.N {
		st, err := Open(vfs.OS(), st.root)
		if err != nil {
			b.Fatal(err)
		}
		g, err := st.Group(ctx, w.group)
		if err != nil {
			b.Fatal(err)
		}
		c, err := g.OpenClone(ctx, "bench")
		if err != nil {
			b.Fatal(err)
		}
		if n := c.WrittenBlocks()[0].Count(); n != 103 {
			b.Fatalf("%d blocks written, want 103", n)
		}
		st.Close()
	}
}
