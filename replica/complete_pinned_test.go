package replica_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/blockrep/blockrep/delta"
	"github.com/blockrep/blockrep/replica"
)

// A point still pinned when its failover is completed — an extended
// replica's base, a forward in doubt — stays while pinned and goes with
// its pin, although the group's retention (20 points) would keep it. Found
// by the simulation (seed 6004419): a forward released its pin after
// CompleteFailover, and the point stayed for good.
func TestCompletedFailoverDropsPinnedPointsWhenReleasedRegression(t *testing.T) {
	f := newFailoverEnv(t, 32<<10, 20)
	first := f.cycle()
	second := f.cycle()
	third := f.cycle()
	g, err := f.store.Group(f.ctx, "vm1")
	require.NoError(t, err)
	const holder = "extension:hv3"
	require.NoError(t, g.Pin(f.ctx, first.Point, holder))
	require.NoError(t, g.Pin(f.ctx, second.Point, holder))

	fo, err := f.replica.Failover(f.ctx, "vm1", replica.SelectPoint(second.Point))
	require.NoError(t, err)
	want := copyImage(f.snaps[second.Point])
	writeImage(t, f.rng, fo.Volumes(), want, 7)
	require.NoError(t, f.replica.CompleteFailover(f.ctx, "vm1"))

	ids := func() []delta.PointID {
		var out []delta.PointID
		for _, p := range f.points("vm1") {
			out = append(out, p.ID)
		}
		return out
	}
	got := ids()
	require.Len(t, got, 3, "the pinned points stay, the third goes")
	committed := got[2]
	assert.Equal(t, []delta.PointID{first.Point, second.Point, committed}, got)
	assert.Equal(t, third.Point, f.points("vm1")[2].Base)
	assert.Equal(t, f.snaps[first.Point], f.pointImages("vm1", first.Point), "a pinned point keeps its image")

	require.NoError(t, g.Unpin(f.ctx, second.Point, holder))
	assert.Equal(t, []delta.PointID{first.Point, committed}, ids())
	require.NoError(t, g.Unpin(f.ctx, first.Point, holder))
	assert.Equal(t, []delta.PointID{committed}, ids())
	assert.Equal(t, want, f.pointImages("vm1", committed))
	require.NoError(t, g.Verify(f.ctx, committed))
}
