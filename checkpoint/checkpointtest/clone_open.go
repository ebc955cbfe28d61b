package checkpointtest

import (
	"bytes"
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/blockrep/blockrep/checkpoint"
)

// testOpenClone checks OpenClone within one store: the open clone is
// returned with its writes, synced or not; unknown and bad names are
// refused; a discarded clone is gone.
func testOpenClone(t *testing.T, st checkpoint.Store) {
	ctx := context.Background()
	p := NewPrimary("vm1", 9, 16<<10, 96<<10)
	g := newGroup(t, st, p, checkpoint.Retention{Additional: 1})
	applyOK(t, g, p.Next(Change{Blocks: 3}))
	held := p.Latest()
	c, err := g.Clone(ctx, held, "tf")
	require.NoError(t, err)
	want := bytes.Clone(p.Images(held)[0])
	data := bytes.Repeat([]byte("reopen"), 4000)
	_, err = c.Volumes()[0].WriteAt(data, 5000)
	require.NoError(t, err)
	copy(want[5000:], data)
	require.NoError(t, c.Sync())
	applyOK(t, g, p.Next(Change{Blocks: 3}))

	again, err := g.OpenClone(ctx, "tf")
	require.NoError(t, err)
	assert.Equal(t, held, again.Point().ID)
	got := make([]byte, len(want))
	_, err = again.Volumes()[0].ReadAt(got, 0)
	require.NoError(t, err)
	require.True(t, bytes.Equal(want, got))
	written := again.WrittenBlocks()
	require.Len(t, written, 1)
	assert.Equal(t, int64(2), written[0].Count(), "bytes 5000..29000 span blocks 0 and 1")

	_, err = g.OpenClone(ctx, "other")
	require.ErrorIs(t, err, checkpoint.ErrUnknownClone)
	_, err = g.OpenClone(ctx, "../tf")
	require.ErrorIs(t, err, checkpoint.ErrInvalidName)
	require.NoError(t, again.Discard(ctx))
	require.ErrorIs(t, again.Sync(), checkpoint.ErrClosed)
	_, err = g.OpenClone(ctx, "tf")
	require.ErrorIs(t, err, checkpoint.ErrUnknownClone)
}
