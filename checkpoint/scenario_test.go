package checkpoint

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/blockrep/blockrep/delta"
)

// A replica keeps a day of hourly points, a test failover runs on an old
// one, and retention goes on around it.
func TestScenarioHourlyPointsCloneAndPrune(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t, 30, "vm1", 16<<10, 512<<10, 256<<10)
	w.spec.Retention = Retention{Additional: 23} // the latest and 23 hourly points: 24
	_, _, g := newMemStore(t, w)

	// Apply 30 hourly points.
	for i := range 30 {
		res := apply(t, g, w.next(change{blocks: 6, pages: true, zeros: i%5 == 0, copies: i%3 == 0, app: i%6 == 0}))
		assert.Equal(t, w.latest(), res.Point.ID)
	}
	pts, err := g.Points(ctx)
	require.NoError(t, err)
	require.Len(t, pts, 24, "keep 24")
	for i, p := range pts {
		assert.Equal(t, w.points[6+i].id, p.ID)
		assert.Equal(t, w.points[6+i].app, p.Consistency == delta.ConsistencyApp)
		if i < len(pts)-1 {
			assert.Positive(t, p.UndoSize)
		} else {
			assert.Zero(t, p.UndoSize)
		}
	}

	// Open point 7 of the chain and read it.
	p7 := pts[7]
	requirePoint(t, g, p7.ID, w.images(p7.ID))

	// Clone it, write to the clone.
	c, err := g.Clone(ctx, p7.ID, "test-failover")
	require.NoError(t, err)
	cloneImg := [][]byte{bytes.Clone(w.images(p7.ID)[0]), bytes.Clone(w.images(p7.ID)[1])}
	for i := range 20 {
		vol := i % 2
		size := int64(len(cloneImg[vol]))
		off := w.rng.Int64N(size - 1)
		n := min(int64(1+w.rng.IntN(40<<10)), size-off)
		data := make([]byte, n)
		fillRand(w.rng, data)
		_, err := c.Volumes()[vol].WriteAt(data, off)
		require.NoError(t, err)
		copy(cloneImg[vol][off:], data)
	}
	for vol, r := range c.Volumes() {
		got := readAll(t, r)
		require.True(t, bytes.Equal(cloneImg[vol], got), "clone volume %d differs at %d", vol, firstDiff(cloneImg[vol], got))
	}
	pins, err := g.Pins(ctx)
	require.NoError(t, err)
	require.Equal(t, []Pin{{Point: p7.ID, Holder: "clone:test-failover", Since: pins[0].Since}}, pins)

	// Replication goes on; retention would drop point 7, the clone holds it.
	for range 10 {
		apply(t, g, w.next(change{blocks: 6, pages: true}))
	}
	pts, err = g.Points(ctx)
	require.NoError(t, err)
	require.Len(t, pts, 25)
	assert.Equal(t, p7.ID, pts[0].ID)
	requirePoint(t, g, p7.ID, w.images(p7.ID))
	for vol, r := range c.Volumes() {
		require.True(t, bytes.Equal(cloneImg[vol], readAll(t, r)))
	}

	// Drop the clone: its pin goes and the next prune removes point 7.
	require.NoError(t, c.Discard(ctx))
	_, err = c.Volumes()[0].ReadAt(make([]byte, 1), 0)
	require.ErrorIs(t, err, ErrClosed)
	clones, err := g.Clones(ctx)
	require.NoError(t, err)
	assert.Empty(t, clones)
	pts, err = g.Points(ctx)
	require.NoError(t, err)
	require.Len(t, pts, 24)
	assert.NotEqual(t, p7.ID, pts[0].ID)
	for _, p := range pts {
		requirePoint(t, g, p.ID, w.images(p.ID))
	}
	require.NoError(t, g.Verify(ctx, pts[0].ID))
}

// Hyper-V keeps hourly points while cycles run every five minutes.
func TestScenarioFrequentCyclesHourlyRetention(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t, 31, "vm1", 16<<10, 256<<10)
	w.step = 5 * time.Minute
	w.spec.Retention = Retention{Additional: 4}
	_, _, g := newMemStore(t, w)
	for range 12 * 6 {
		apply(t, g, w.next(change{blocks: 3, pages: true}))
	}
	pts, err := g.Points(ctx)
	require.NoError(t, err)
	require.Equal(t, keptIDs(w, w.spec.Retention), idsOf(pts))
	require.Len(t, pts, 5)
	for i := 1; i < len(pts)-1; i++ {
		// One an hour: the last point of each hour.
		assert.Equal(t, 55, pts[i].Time.Minute())
		assert.Equal(t, time.Hour, pts[i+1].Time.Sub(pts[i].Time).Round(time.Hour), "spacing")
	}
	for _, p := range pts {
		requirePoint(t, g, p.ID, w.images(p.ID))
	}
	requireChangedBlocksExact(t, g, w)
}

func idsOf(pts []Point) []delta.PointID {
	var ids []delta.PointID
	for _, p := range pts {
		ids = append(ids, p.ID)
	}
	return ids
}

// Unplanned failover to an older point, then replication resumes from it.
func TestScenarioRollbackThenContinue(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t, 32, "vm1", 16<<10, 256<<10, 64<<10)
	w.spec.Retention = Retention{Additional: 10}
	_, _, g := newMemStore(t, w)
	for range 6 {
		apply(t, g, w.next(change{blocks: 5, pages: true, zeros: true, copies: true}))
	}
	target := w.points[2]
	view, err := g.OpenPoint(ctx, w.points[4].id)
	require.NoError(t, err)
	require.ErrorIs(t, g.Rollback(ctx, target.id), ErrPinned)
	require.NoError(t, view.Close())
	require.NoError(t, g.Pin(ctx, w.points[5].id, "downstream"))
	require.ErrorIs(t, g.Rollback(ctx, target.id), ErrPinned)
	require.NoError(t, g.Unpin(ctx, w.points[5].id, "downstream"))

	old, err := g.OpenPoint(ctx, w.points[1].id)
	require.NoError(t, err)
	require.NoError(t, g.Rollback(ctx, target.id))
	latest, err := g.Latest(ctx)
	require.NoError(t, err)
	require.Equal(t, target.id, latest.ID)
	require.NoError(t, g.Verify(ctx, target.id))
	// A view of an older point stays exact across the rollback.
	for i, r := range old.Volumes() {
		require.True(t, bytes.Equal(w.points[1].imgs[i], readAll(t, r)))
	}
	require.NoError(t, old.Close())
	_, err = g.OpenPoint(ctx, w.points[4].id)
	require.ErrorIs(t, err, ErrUnknownPoint)

	// The primary resumes from the rolled-back point.
	w.points = w.points[:3]
	for i := range w.cur {
		copy(w.cur[i], target.imgs[i])
	}
	apply(t, g, w.next(change{blocks: 5, pages: true}))
	requireChainOf(t, g, w)
	requireChangedBlocksExact(t, g, w)
}
