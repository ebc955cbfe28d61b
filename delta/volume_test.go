package delta

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestTrackedVolume(t *testing.T) {
	g := mustGeometry(t, 1<<20, 0)
	tr, err := NewTracker([]Geometry{g, g})
	require.NoError(t, err)
	v := newMemVolume(g.Size)
	tv, err := tr.Volume(1, v)
	require.NoError(t, err)
	_, err = tr.Volume(2, v)
	assert.ErrorIs(t, err, ErrGeometry)
	assert.Equal(t, g.Size, tv.Size())
	assert.Equal(t, 1, tv.Index())

	n, err := tv.WriteAt([]byte("hello"), 70000)
	require.NoError(t, err)
	assert.Equal(t, 5, n)
	p := make([]byte, 5)
	_, err = tv.ReadAt(p, 70000)
	require.NoError(t, err)
	assert.Equal(t, "hello", string(p))
	d, _ := tr.Dirty(1)
	assert.Equal(t, []int64{1}, members(d))
	d, _ = tr.Dirty(0)
	assert.True(t, d.Empty(), "only the wrapped volume is marked")

	n, err = tv.WriteAt([]byte("x"), g.Size)
	assert.ErrorIs(t, err, ErrGeometry)
	assert.Equal(t, 0, n)
	n, err = tv.WriteAt(nil, g.Size)
	require.NoError(t, err, "an empty write at the end is valid")
	assert.Equal(t, 0, n)

	f, err := tr.Freeze(context.Background())
	require.NoError(t, err)
	require.NoError(t, tr.Close())
	_, err = tv.WriteAt([]byte("x"), 0)
	assert.ErrorIs(t, err, ErrClosed)
	assert.ErrorIs(t, f.ReadBlock(1, 1, make([]byte, g.BlockSize)), ErrFrozenDone)
	assert.Equal(t, PageMask{}, f.Pages(5, 0, nil))
}
