package checkpoint

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/blockrep/blockrep/checkpoint/vfs"
	"github.com/blockrep/blockrep/delta"
)

// cloneWrite is one write a test makes to a clone.
type cloneWrite struct {
	vol int
	off int64
	n   int
}

// writeClone makes the writes to c with random data and mirrors them in
// want.
func writeClone(t *testing.T, w *world, c Clone, want [][]byte, writes []cloneWrite) {
	t.Helper()
	for _, wr := range writes {
		data := make([]byte, wr.n)
		fillRand(w.rng, data)
		n, err := c.Volumes()[wr.vol].WriteAt(data, wr.off)
		require.NoError(t, err)
		require.Equal(t, wr.n, n)
		copy(want[wr.vol][wr.off:], data)
	}
}

func requireClone(t *testing.T, c Clone, want [][]byte) {
	t.Helper()
	require.Len(t, c.Volumes(), len(want))
	for v, r := range c.Volumes() {
		got := readAll(t, r)
		require.True(t, bytes.Equal(want[v], got), "volume %d differs at %d", v, firstDiff(want[v], got))
	}
}

func cloneImages(imgs [][]byte) [][]byte {
	out := make([][]byte, len(imgs))
	for i, b := range imgs {
		out[i] = bytes.Clone(b)
	}
	return out
}

func TestCloneReopen(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t, 70, "vm1", 16<<10, 256<<10, 100<<10+3)
	w.spec.Retention = Retention{Additional: 1}
	root := t.TempDir()
	st, err := Open(vfs.OS(), root)
	require.NoError(t, err)
	g, err := st.CreateGroup(ctx, "vm1", w.spec)
	require.NoError(t, err)
	for range 2 {
		apply(t, g, w.next(change{blocks: 5, pages: true}))
	}
	base := w.points[0]
	c, err := g.Clone(ctx, base.id, "failover")
	require.NoError(t, err)
	want := cloneImages(base.imgs)
	writeClone(t, w, c, want, []cloneWrite{{0, 100, 50}, {0, 16<<10 - 7, 30}, {1, 100 << 10, 3}, {1, 40 << 10, 16 << 10}})
	require.NoError(t, c.Sync())
	require.NoError(t, c.Sync(), "a Sync with nothing new")
	written := c.WrittenBlocks()
	assert.Equal(t, []int64{0, 1}, slicesOf(written[0]))
	assert.Equal(t, []int64{2, 3, 6}, slicesOf(written[1]))

	again, err := g.OpenClone(ctx, "failover")
	require.NoError(t, err)
	assert.Same(t, c, again, "an open clone is returned as it is")
	_, err = g.OpenClone(ctx, "nope")
	require.ErrorIs(t, err, ErrUnknownClone)
	_, err = g.OpenClone(ctx, "../failover")
	require.ErrorIs(t, err, ErrInvalidName)

	// Restart: the clone comes back with its synced writes, its point
	// still pinned against retention.
	require.NoError(t, st.Close())
	require.ErrorIs(t, c.Sync(), ErrClosed, "clones stop with their store")
	st, err = Open(vfs.OS(), root)
	require.NoError(t, err)
	defer func() { st.Close() }()
	g, err = st.Group(ctx, "vm1")
	require.NoError(t, err)
	for range 3 {
		apply(t, g, w.next(change{blocks: 5}))
	}
	c, err = g.OpenClone(ctx, "failover")
	require.NoError(t, err)
	assert.Equal(t, base.id, c.Point().ID)
	assert.Equal(t, "failover", c.Name())
	requireClone(t, c, want)
	for v, s := range c.WrittenBlocks() {
		assert.True(t, written[v].Equal(s), "volume %d", v)
	}
	requirePoint(t, g, base.id, base.imgs)

	// More writes after the reopen, synced, survive the next restart too.
	writeClone(t, w, c, want, []cloneWrite{{0, 200 << 10, 20 << 10}, {0, 150, 10}})
	require.NoError(t, c.Sync())
	require.NoError(t, st.Close())
	st, err = Open(vfs.OS(), root)
	require.NoError(t, err)
	g, err = st.Group(ctx, "vm1")
	require.NoError(t, err)
	c, err = g.OpenClone(ctx, "failover")
	require.NoError(t, err)
	requireClone(t, c, want)

	require.NoError(t, c.Discard(ctx))
	require.ErrorIs(t, c.Sync(), ErrClosed)
	_, err = g.OpenClone(ctx, "failover")
	require.ErrorIs(t, err, ErrUnknownClone)
	pins, err := g.Pins(ctx)
	require.NoError(t, err)
	assert.Empty(t, pins)
}

func slicesOf(s *delta.Set) []int64 {
	var out []int64
	for b := range s.All() {
		out = append(out, b)
	}
	return out
}

// TestCloneReopenDamage: what a crash cannot leave, but a hand can, is
// reported as damage; what an interrupted Clone leaves is no clone.
func TestCloneReopenDamage(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t, 71, "vm1", 16<<10, 128<<10)
	root := t.TempDir()
	dir := filepath.Join(root, "groups", "vm1", "clones", "c1")
	state := filepath.Join(dir, cloneStateName)
	cases := []struct {
		name    string
		spoil   func(t *testing.T)
		damaged string // the damaged file, or "" for ErrUnknownClone
	}{
		{"state file missing", func(t *testing.T) { require.NoError(t, os.Remove(state)) }, ""},
		{"state file flipped", func(t *testing.T) {
			b, err := os.ReadFile(state)
			require.NoError(t, err)
			b[len(b)/2] ^= 1
			require.NoError(t, os.WriteFile(state, b, 0o644))
		}, "clones/c1/clone.state"},
		{"state file truncated", func(t *testing.T) { require.NoError(t, os.Truncate(state, 11)) }, "clones/c1/clone.state"},
		{"overlay short", func(t *testing.T) { require.NoError(t, os.Truncate(filepath.Join(dir, volumeName(0)), 100)) }, "clones/c1/vol-000.img"},
		{"overlay missing", func(t *testing.T) { require.NoError(t, os.Remove(filepath.Join(dir, volumeName(0)))) }, "clones/c1/vol-000.img"},
	}
	st, err := Open(vfs.OS(), root)
	require.NoError(t, err)
	g, err := st.CreateGroup(ctx, "vm1", w.spec)
	require.NoError(t, err)
	apply(t, g, w.next(change{blocks: 3}))
	require.NoError(t, st.Close())
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			st, err := Open(vfs.OS(), root)
			require.NoError(t, err)
			defer st.Close()
			g, err := st.Group(ctx, "vm1")
			require.NoError(t, err)
			c, err := g.Clone(ctx, w.latest(), "c1")
			require.NoError(t, err)
			writeClone(t, w, c, cloneImages(w.points[0].imgs), []cloneWrite{{0, 0, 100}})
			require.NoError(t, c.Sync())
			require.NoError(t, st.Close())
			tc.spoil(t)

			st2, err := Open(vfs.OS(), root)
			require.NoError(t, err)
			defer st2.Close()
			g2, err := st2.Group(ctx, "vm1")
			require.NoError(t, err)
			_, err = g2.OpenClone(ctx, "c1")
			if tc.damaged == "" {
				require.ErrorIs(t, err, ErrUnknownClone)
			} else {
				var de *DamagedError
				require.ErrorAs(t, err, &de)
				assert.Equal(t, tc.damaged, de.File)
				assert.ErrorIs(t, err, ErrDamaged)
			}
			// Whatever is left, DiscardClone clears it and the name is free.
			require.NoError(t, g2.DiscardClone(ctx, "c1"))
			names, err := g2.Clones(ctx)
			require.NoError(t, err)
			assert.Empty(t, names)
			pins, err := g2.Pins(ctx)
			require.NoError(t, err)
			assert.Empty(t, pins)
		})
	}
}

// TestCloneCrash crashes a MemFS at every operation of writes to a clone
// followed by its Sync. On reopen the clone is there with everything the
// Sync before them recorded; a block that was never written before reads
// either as of that Sync or as of the new one as a whole; a block written
// before may hold, 4 KiB page by page, the old or new bytes — and once the
// Sync returned, everything is as of it.
func TestCloneCrash(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t, 72, "vm1", 16<<10, 160<<10, 64<<10)
	w.spec.Retention = Retention{Additional: 2}
	base := setupChain(t, w, 2, change{blocks: 4, pages: true})
	st, err := Open(base, "store")
	require.NoError(t, err)
	g, err := st.Group(ctx, "vm1")
	require.NoError(t, err)
	point := w.points[0]
	c, err := g.Clone(ctx, point.id, "tf")
	require.NoError(t, err)
	before := cloneImages(point.imgs)
	writeClone(t, w, c, before, []cloneWrite{{0, 0, 20 << 10}, {1, 5000, 100}})
	require.NoError(t, c.Sync())
	oldWritten := c.WrittenBlocks()
	require.NoError(t, st.Close())

	after := cloneImages(before)
	var data [][]byte
	writes := []cloneWrite{{0, 10 << 10, 4 << 10}, {0, 64<<10 + 3, 40 << 10}, {1, 0, 64 << 10}, {0, 160<<10 - 1, 1}}
	for _, wr := range writes {
		b := make([]byte, wr.n)
		fillRand(w.rng, b)
		data = append(data, b)
		copy(after[wr.vol][wr.off:], b)
	}
	op := func(g Group) error {
		c, err := g.OpenClone(ctx, "tf")
		if err != nil {
			return err
		}
		for i, wr := range writes {
			if _, err := c.Volumes()[wr.vol].WriteAt(data[i], wr.off); err != nil {
				return err
			}
		}
		return c.Sync()
	}
	var completed int
	total := crashLoop(t, base, "vm1", op, func(t *testing.T, g Group, n int64, opErr error) {
		c, err := g.OpenClone(ctx, "tf")
		require.NoError(t, err, "crash at %d", n)
		require.Equal(t, point.id, c.Point().ID)
		got := make([][]byte, len(c.Volumes()))
		for v, r := range c.Volumes() {
			got[v] = readAll(t, r)
		}
		if opErr == nil {
			completed++
			for v := range got {
				require.True(t, bytes.Equal(after[v], got[v]), "crash at %d after Sync: volume %d differs at %d", n, v, firstDiff(after[v], got[v]))
			}
		}
		for v, geo := range w.geoms {
			for b := range geo.Blocks() {
				off, blen := geo.BlockBounds(b)
				blk := func(img [][]byte) []byte { return img[v][off : off+int64(blen)] }
				if !oldWritten[v].Contains(b) {
					ok := bytes.Equal(blk(got), blk(before)) || bytes.Equal(blk(got), blk(after))
					require.True(t, ok, "crash at %d: volume %d block %d is neither as of a Sync", n, v, b)
					continue
				}
				for p := int64(0); p < int64(blen); p += 4 << 10 {
					e := min(p+4<<10, int64(blen))
					ok := bytes.Equal(blk(got)[p:e], blk(before)[p:e]) || bytes.Equal(blk(got)[p:e], blk(after)[p:e])
					require.True(t, ok, "crash at %d: volume %d block %d page at %d is torn", n, v, b, p)
				}
			}
		}
		// The chain is untouched and the clone's point still pinned.
		requirePoint(t, g, point.id, point.imgs)
		require.NoError(t, c.Discard(ctx))
	})
	t.Logf("%d crash points, %d after the Sync returned", total+1, completed)
	assert.Equal(t, 1, completed, "only the crash after the Sync returned sees it done")
}

func TestCloneStateCodec(t *testing.T) {
	geoms := []delta.Geometry{{Size: 1 << 20, BlockSize: 64 << 10}, {Size: 100, BlockSize: 4 << 10}}
	a, b := delta.NewSet(16), delta.NewSet(1)
	a.AddRange(3, 5)
	a.Add(15)
	b.Add(0)
	st := cloneState{Point: delta.PointID{1, 2, 3}, Written: []*delta.Set{a, b}}
	enc, err := encodeCloneState(st)
	require.NoError(t, err)
	got, err := decodeCloneState(enc, geoms)
	require.NoError(t, err)
	assert.Equal(t, st.Point, got.Point)
	assert.True(t, a.Equal(got.Written[0]))
	assert.True(t, b.Equal(got.Written[1]))
	for cut := range len(enc) {
		_, err := decodeCloneState(enc[:cut], geoms)
		require.Error(t, err, "cut at %d", cut)
	}
	for i := range len(enc) {
		bad := bytes.Clone(enc)
		bad[i] ^= 0x10
		_, err := decodeCloneState(bad, geoms)
		require.Error(t, err, "flip at %d", i)
	}
	_, err = decodeCloneState(enc, geoms[:1])
	require.Error(t, err, "another group's volume count")
	_, err = decodeCloneState(enc, []delta.Geometry{geoms[0], {Size: 8 << 10, BlockSize: 4 << 10}})
	require.Error(t, err, "another volume's block count")
	zero := cloneState{Written: []*delta.Set{a, b}}
	enc, err = encodeCloneState(zero)
	require.NoError(t, err)
	_, err = decodeCloneState(enc, geoms)
	require.Error(t, err, "no point")
}

func FuzzCloneState(f *testing.F) {
	geoms := []delta.Geometry{{Size: 1 << 20, BlockSize: 64 << 10}, {Size: 100, BlockSize: 4 << 10}}
	a, b := delta.NewSet(16), delta.NewSet(1)
	a.AddRange(3, 5)
	b.Add(0)
	enc, err := encodeCloneState(cloneState{Point: delta.PointID{9}, Written: []*delta.Set{a, b}})
	require.NoError(f, err)
	f.Add(enc)
	f.Add(enc[:20])
	f.Add([]byte("BRCLONE1"))
	f.Fuzz(func(t *testing.T, in []byte) {
		st, err := decodeCloneState(in, geoms)
		if err != nil {
			return
		}
		// Whatever decodes is a state of this group that encodes back to
		// the same bytes.
		require.False(t, st.Point.IsZero())
		require.Len(t, st.Written, len(geoms))
		for v, s := range st.Written {
			require.Equal(t, geoms[v].Blocks(), s.Len())
		}
		out, err := encodeCloneState(st)
		require.NoError(t, err)
		if !bytes.Equal(in, out) {
			// A set's varints may be written longer than needed; the
			// re-encoding must then decode to the same state.
			again, err := decodeCloneState(out, geoms)
			require.NoError(t, err)
			require.Equal(t, st.Point, again.Point)
			for v := range st.Written {
				require.True(t, st.Written[v].Equal(again.Written[v]))
			}
		}
	})
}

// TestCloneCreateDiscardCrash crashes a MemFS at every operation of Clone
// and of Discard: on reopen the clone is either whole (its point's content,
// its synced writes) or no clone at all, and DiscardClone clears any
// leftover with its pin.
func TestCloneCreateDiscardCrash(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t, 73, "vm1", 16<<10, 96<<10)
	w.spec.Retention = Retention{Additional: 1}
	base := setupChain(t, w, 2, change{blocks: 3})
	point := w.points[0]
	requireGone := func(t *testing.T, g Group, n int64) {
		t.Helper()
		if err := g.DiscardClone(ctx, "tf"); err != nil {
			require.ErrorIs(t, err, ErrUnknownClone, "crash at %d", n)
		}
		names, err := g.Clones(ctx)
		require.NoError(t, err)
		require.Empty(t, names, "crash at %d", n)
		pins, err := g.Pins(ctx)
		require.NoError(t, err)
		require.Empty(t, pins, "crash at %d", n)
	}

	var whole int
	crashLoop(t, base, "vm1", func(g Group) error {
		_, err := g.Clone(ctx, point.id, "tf")
		return err
	}, func(t *testing.T, g Group, n int64, opErr error) {
		c, err := g.OpenClone(ctx, "tf")
		if opErr == nil {
			require.NoError(t, err, "crash at %d after Clone returned", n)
		}
		if err == nil {
			whole++
			requireClone(t, c, point.imgs)
			for _, s := range c.WrittenBlocks() {
				require.True(t, s.Empty())
			}
		} else {
			require.ErrorIs(t, err, ErrUnknownClone, "crash at %d", n)
		}
		requireGone(t, g, n)
	})
	assert.Positive(t, whole)

	st, err := Open(base, "store")
	require.NoError(t, err)
	g, err := st.Group(ctx, "vm1")
	require.NoError(t, err)
	c, err := g.Clone(ctx, point.id, "tf")
	require.NoError(t, err)
	want := cloneImages(point.imgs)
	writeClone(t, w, c, want, []cloneWrite{{0, 1000, 30 << 10}})
	require.NoError(t, c.Sync())
	require.NoError(t, st.Close())
	var kept int
	crashLoop(t, base, "vm1", func(g Group) error {
		return g.DiscardClone(ctx, "tf")
	}, func(t *testing.T, g Group, n int64, opErr error) {
		c, err := g.OpenClone(ctx, "tf")
		if opErr == nil {
			require.ErrorIs(t, err, ErrUnknownClone, "crash at %d after Discard returned", n)
			pins, err := g.Pins(ctx)
			require.NoError(t, err)
			require.Empty(t, pins, "crash at %d after Discard returned", n)
		}
		if err == nil {
			kept++
			requireClone(t, c, want)
		} else {
			require.ErrorIs(t, err, ErrUnknownClone, "crash at %d", n)
		}
		requireGone(t, g, n)
	})
	assert.Positive(t, kept)
}
