package checkpoint

import (
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/blockrep/blockrep/checkpoint/vfs"
	"github.com/blockrep/blockrep/delta"
)

func TestCloneOnDisk(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t, 60, "vm1", 16<<10, 512<<10, 100<<10+3)
	w.spec.Retention = Retention{Additional: 3}
	st, err := Open(vfs.OS(), t.TempDir())
	require.NoError(t, err)
	defer st.Close()
	g, err := st.CreateGroup(ctx, "vm1", w.spec)
	require.NoError(t, err)
	for range 3 {
		apply(t, g, w.next(change{blocks: 6, pages: true, zeros: true, copies: true}))
	}
	base := w.points[1]
	_, err = g.Clone(ctx, base.id, "../evil")
	require.ErrorIs(t, err, ErrInvalidName)
	_, err = g.Clone(ctx, delta.PointID{3}, "x")
	require.ErrorIs(t, err, ErrUnknownPoint)
	c, err := g.Clone(ctx, base.id, "tf1")
	require.NoError(t, err)
	_, err = g.Clone(ctx, base.id, "tf1")
	require.ErrorIs(t, err, ErrCloneExists)
	assert.Equal(t, base.id, c.Point().ID)
	assert.Equal(t, "tf1", c.Name())

	want := [][]byte{bytes.Clone(base.imgs[0]), bytes.Clone(base.imgs[1])}
	writes := []struct {
		vol int
		off int64
		n   int
	}{
		{0, 0, 100},                // head of a block
		{0, 16<<10 - 10, 20},       // across two blocks
		{0, 32 << 10, 16 << 10},    // a whole block
		{0, 512<<10 - 5, 5},        // the end
		{1, 100 << 10, 3},          // the short last block
		{1, 0, 100<<10 + 3},        // everything
		{0, 16<<10 - 10, 40 << 10}, // over written and unwritten blocks
	}
	for _, wr := range writes {
		data := make([]byte, wr.n)
		fillRand(w.rng, data)
		n, err := c.Volumes()[wr.vol].WriteAt(data, wr.off)
		require.NoError(t, err)
		require.Equal(t, wr.n, n)
		copy(want[wr.vol][wr.off:], data)
		for v, r := range c.Volumes() {
			got := readAll(t, r)
			require.True(t, bytes.Equal(want[v], got), "after write %+v volume %d differs at %d", wr, v, firstDiff(want[v], got))
		}
	}
	_, err = c.Volumes()[0].WriteAt([]byte{1}, 512<<10)
	require.Error(t, err)
	// Reads past the end: io.EOF with what there was.
	buf := make([]byte, 10)
	n, err := c.Volumes()[0].ReadAt(buf, 512<<10-4)
	assert.Equal(t, 4, n)
	assert.ErrorIs(t, err, io.EOF)
	// The clone changed no point.
	for _, p := range w.points {
		requirePoint(t, g, p.id, p.imgs)
	}
	// A clone left by a process that ended is listed and discarded by name.
	names, err := g.Clones(ctx)
	require.NoError(t, err)
	assert.Equal(t, []string{"tf1"}, names)
	require.NoError(t, st.Close())
	st2, err := Open(vfs.OS(), st.root)
	require.NoError(t, err)
	defer st2.Close()
	g2, err := st2.Group(ctx, "vm1")
	require.NoError(t, err)
	names, err = g2.Clones(ctx)
	require.NoError(t, err)
	assert.Equal(t, []string{"tf1"}, names)
	pins, err := g2.Pins(ctx)
	require.NoError(t, err)
	require.Len(t, pins, 1)
	require.NoError(t, g2.DiscardClone(ctx, "tf1"))
	require.ErrorIs(t, g2.DiscardClone(ctx, "tf1"), ErrUnknownClone)
	pins, err = g2.Pins(ctx)
	require.NoError(t, err)
	assert.Empty(t, pins)
	_, err = os.Stat(filepath.Join(st.root, "groups", "vm1", "clones", "tf1"))
	assert.ErrorIs(t, err, os.ErrNotExist, "discarding frees everything")
}

func TestExport(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t, 61, "vm1", 16<<10, 300<<10, 64<<10)
	w.spec.Retention = Retention{Additional: 3}
	_, _, g := newMemStore(t, w)
	for range 3 {
		apply(t, g, w.next(change{blocks: 6, pages: true, zeros: true}))
	}
	dir := t.TempDir()
	for _, opts := range [][]ExportOption{nil, {ExportSparse()}} {
		for _, p := range w.points {
			var dst []io.WriterAt
			var files []*os.File
			for i := range w.spec.Volumes {
				f, err := os.Create(filepath.Join(dir, volumeName(i)))
				require.NoError(t, err)
				files = append(files, f)
				dst = append(dst, f)
			}
			require.NoError(t, g.Export(ctx, p.id, dst, opts...))
			for i, f := range files {
				require.NoError(t, f.Close())
				got, err := os.ReadFile(filepath.Join(dir, volumeName(i)))
				require.NoError(t, err)
				got = append(got, make([]byte, len(p.imgs[i])-len(got))...) // sparse tail
				require.True(t, bytes.Equal(p.imgs[i], got))
			}
		}
	}
	require.ErrorIs(t, g.Export(ctx, w.latest(), nil), ErrVolumeMismatch)
	require.ErrorIs(t, g.Export(ctx, delta.PointID{5}, []io.WriterAt{nil, nil}), ErrUnknownPoint)
}
