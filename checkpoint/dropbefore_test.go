package checkpoint

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/blockrep/blockrep/checkpoint/vfs"
	"github.com/blockrep/blockrep/delta"
)

// dropWorld is a group of six points that a generous retention keeps all
// of, on a MemFS store the test can reopen.
func dropWorld(t *testing.T) (*world, *vfs.MemFS, []delta.PointID) {
	t.Helper()
	w := newWorld(t, 77, "vm1", 16<<10, 96<<10, 40<<10)
	w.step = time.Minute
	w.spec.Retention = Retention{Additional: 20, Spacing: time.Second}
	fsys := setupChain(t, w, 6, change{blocks: 3, pages: true, zeros: true})
	ids := make([]delta.PointID, len(w.points))
	for i, p := range w.points {
		ids[i] = p.id
	}
	return w, fsys, ids
}

func reopenStore(t *testing.T, fsys *vfs.MemFS, group string) (*DirStore, Group) {
	t.Helper()
	st, err := Open(fsys, "store")
	require.NoError(t, err)
	g, err := st.Group(context.Background(), group)
	require.NoError(t, err)
	return st, g
}

func TestDropBeforeKeepsPinnedPointsUntilTheirPinsGo(t *testing.T) {
	ctx := context.Background()
	w, fsys, ids := dropWorld(t)
	st, g := reopenStore(t, fsys, w.group)
	require.NoError(t, g.Pin(ctx, ids[0], "a"))
	require.NoError(t, g.Pin(ctx, ids[2], "a"))
	require.NoError(t, g.Pin(ctx, ids[2], "b"))
	view, err := g.OpenPoint(ctx, ids[3])
	require.NoError(t, err)

	require.NoError(t, g.DropBefore(ctx, ids[4]))
	require.Equal(t, []delta.PointID{ids[0], ids[2], ids[3], ids[4], ids[5]}, requireChainOf(t, g, w))
	requireChangedBlocksExact(t, g, w)

	// The mark is durable: a reopened store still drops what it spared.
	require.NoError(t, view.Close())
	require.NoError(t, st.Close())
	st, g = reopenStore(t, fsys, w.group)
	defer st.Close()
	_, err = g.Prune(ctx)
	require.NoError(t, err)
	require.Equal(t, []delta.PointID{ids[0], ids[2], ids[4], ids[5]}, requireChainOf(t, g, w), "the view's point goes once the view is closed")

	require.NoError(t, g.Unpin(ctx, ids[2], "a"))
	require.Equal(t, []delta.PointID{ids[0], ids[2], ids[4], ids[5]}, requireChainOf(t, g, w), "another holder still pins it")
	require.NoError(t, g.Unpin(ctx, ids[2], "b"))
	require.Equal(t, []delta.PointID{ids[0], ids[4], ids[5]}, requireChainOf(t, g, w))
	require.NoError(t, g.Unpin(ctx, ids[0], "a"))
	require.Equal(t, []delta.PointID{ids[4], ids[5]}, requireChainOf(t, g, w))
	requireChangedBlocksExact(t, g, w)
	pins, err := g.Pins(ctx)
	require.NoError(t, err)
	require.Empty(t, pins)

	// Points newer than the mark are retention's again.
	apply(t, g, w.next(change{blocks: 2}))
	require.Equal(t, []delta.PointID{ids[4], ids[5], w.latest()}, requireChainOf(t, g, w))
}

func TestDropBeforeMarkFollowsTheChain(t *testing.T) {
	ctx := context.Background()
	w, fsys, ids := dropWorld(t)
	st, g := reopenStore(t, fsys, w.group)
	defer st.Close()
	require.NoError(t, g.Pin(ctx, ids[0], "a"))
	require.NoError(t, g.DropBefore(ctx, ids[2]))
	require.Equal(t, []delta.PointID{ids[0], ids[2], ids[3], ids[4], ids[5]}, requireChainOf(t, g, w))

	// A mark behind the current one changes nothing.
	require.NoError(t, g.DropBefore(ctx, ids[0]))
	require.NoError(t, g.DropBefore(ctx, ids[2]))
	// Retention now keeps the latest only: the mark's point is pruned, and
	// the mark moves on with the chain.
	require.NoError(t, g.SetRetention(ctx, Retention{}))
	require.Equal(t, []delta.PointID{ids[0], ids[5]}, requireChainOf(t, g, w))
	require.NoError(t, g.SetRetention(ctx, Retention{Additional: 20, Spacing: time.Second}))
	apply(t, g, w.next(change{blocks: 2}))
	latest := w.latest()
	require.Equal(t, []delta.PointID{ids[0], ids[5], latest}, requireChainOf(t, g, w))
	require.NoError(t, g.Unpin(ctx, ids[0], "a"))
	require.Equal(t, []delta.PointID{ids[5], latest}, requireChainOf(t, g, w), "the spared point goes, the newer ones stay")
	requireChangedBlocksExact(t, g, w)
}

func TestDropBeforeClearedByRollback(t *testing.T) {
	ctx := context.Background()
	w, fsys, ids := dropWorld(t)
	st, g := reopenStore(t, fsys, w.group)
	defer st.Close()
	require.NoError(t, g.Pin(ctx, ids[1], "a"))
	require.NoError(t, g.DropBefore(ctx, ids[4]))
	require.Equal(t, []delta.PointID{ids[1], ids[4], ids[5]}, requireChainOf(t, g, w))
	// Rolling back behind the mark discards it with the points it named:
	// what it would have dropped is kept.
	require.NoError(t, g.Rollback(ctx, ids[1]))
	require.NoError(t, g.Unpin(ctx, ids[1], "a"))
	require.Equal(t, []delta.PointID{ids[1]}, requireChainOf(t, g, w))
}

func TestDropBeforeUnknownPoint(t *testing.T) {
	ctx := context.Background()
	w, fsys, ids := dropWorld(t)
	st, g := reopenStore(t, fsys, w.group)
	defer st.Close()
	require.ErrorIs(t, g.DropBefore(ctx, delta.PointID{0xee}), ErrUnknownPoint)
	require.Equal(t, ids, requireChainOf(t, g, w))
}

// TestCrashDuringDropBefore crashes at every operation of a DropBefore
// that spares a pinned point: the store opens with the whole chain or with
// the pinned point and the newer ones, and the mark, once reported done,
// drops the pinned point when its pin goes.
func TestCrashDuringDropBefore(t *testing.T) {
	ctx := context.Background()
	w, base, ids := dropWorld(t)
	st, g := reopenStore(t, base, w.group)
	require.NoError(t, g.Pin(ctx, ids[2], "a"))
	require.NoError(t, st.Close())
	spared := []delta.PointID{ids[2], ids[4], ids[5]}
	var marked, unmarked int
	total := crashLoop(t, base, w.group, func(g Group) error {
		return g.DropBefore(ctx, ids[4])
	}, func(t *testing.T, g Group, n int64, opErr error) {
		got := requireChainOf(t, g, w)
		if opErr == nil {
			require.Equal(t, spared, got, "crash at %d", n)
		}
		// A crash during the prune that follows the mark leaves some of the
		// points it drops; never a pinned or newer one is missing.
		require.Subset(t, got, spared, "crash at %d", n)
		requireChangedBlocksExact(t, g, w)
		require.NoError(t, g.Unpin(ctx, ids[2], "a"))
		after := requireChainOf(t, g, w)
		if len(got) == len(ids) && len(after) == len(ids) {
			unmarked++ // the mark was not committed: retention keeps all
		} else {
			require.Equal(t, []delta.PointID{ids[4], ids[5]}, after, "crash at %d", n)
			marked++
		}
		requireChangedBlocksExact(t, g, w)
	})
	require.Positive(t, marked)
	require.Positive(t, unmarked)
	t.Logf("%d crashes before the mark was durable, %d after", unmarked, marked)
	t.Logf("%d operations", total)
}

// TestCrashDuringUnpinThatDrops crashes at every operation of an Unpin
// that removes the point it released (a middle point: its undo log is
// merged with the previous one's): the store opens with the point and its
// pin, or with neither — never the point without the pin.
func TestCrashDuringUnpinThatDrops(t *testing.T) {
	ctx := context.Background()
	w, base, ids := dropWorld(t)
	st, g := reopenStore(t, base, w.group)
	require.NoError(t, g.Pin(ctx, ids[0], "a"))
	require.NoError(t, g.Pin(ctx, ids[2], "b"))
	require.NoError(t, g.DropBefore(ctx, ids[4]))
	require.Equal(t, []delta.PointID{ids[0], ids[2], ids[4], ids[5]}, requireChainOf(t, g, w))
	require.NoError(t, st.Close())
	var kept, dropped int
	total := crashLoop(t, base, w.group, func(g Group) error {
		return g.Unpin(ctx, ids[2], "b")
	}, func(t *testing.T, g Group, n int64, opErr error) {
		got := requireChainOf(t, g, w)
		pins, err := g.Pins(ctx)
		require.NoError(t, err)
		switch {
		case len(got) == 4:
			require.NotNil(t, opErr, "crash at %d: Unpin reported done but the point is there", n)
			require.Equal(t, []Pin{{Point: ids[0], Holder: "a"}, {Point: ids[2], Holder: "b"}}, clearSince(pins), "crash at %d", n)
			kept++
		default:
			require.Equal(t, []delta.PointID{ids[0], ids[4], ids[5]}, got, "crash at %d", n)
			require.Equal(t, []Pin{{Point: ids[0], Holder: "a"}}, clearSince(pins), "crash at %d", n)
			dropped++
		}
		requireChangedBlocksExact(t, g, w)
	})
	require.Positive(t, kept)
	require.Positive(t, dropped)
	t.Logf("%d operations: %d crashes kept the point and its pin, %d dropped both", total, kept, dropped)
}

func clearSince(pins []Pin) []Pin {
	out := make([]Pin, len(pins))
	for i, p := range pins {
		out[i] = Pin{Point: p.Point, Holder: p.Holder}
	}
	return out
}

// Retention chooses among the points from the mark on: a slot whose
// app-consistent point is older than the mark keeps the mark's point
// instead of nothing.
func TestDropBeforeWithKeepApp(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t, 78, "vm1", 16<<10, 64<<10)
	w.step = 20 * time.Minute
	w.spec.Retention = Retention{Additional: 5, KeepApp: true}
	_, st, g := newMemStore(t, w)
	defer st.Close()
	for i := range 6 { // 10:00 10:20(app) 10:40 | 11:00 11:20 11:40
		apply(t, g, w.next(change{blocks: 2, app: i == 1}))
		if i == 1 || i == 2 {
			// Held while the 10:00 slot is the latest one, which
			// retention does not keep.
			require.NoError(t, g.Pin(ctx, w.latest(), "hold"))
		}
	}
	ids := make([]delta.PointID, len(w.points))
	for i, p := range w.points {
		ids[i] = p.id
	}
	require.Equal(t, []delta.PointID{ids[1], ids[2], ids[5]}, requireChainOf(t, g, w))
	require.NoError(t, g.DropBefore(ctx, ids[2]))
	require.NoError(t, g.Unpin(ctx, ids[2], "hold"))
	require.Equal(t, []delta.PointID{ids[1], ids[2], ids[5]}, requireChainOf(t, g, w), "the mark's point fills the 10:00 slot")
	require.NoError(t, g.Unpin(ctx, ids[1], "hold"))
	require.Equal(t, []delta.PointID{ids[2], ids[5]}, requireChainOf(t, g, w))
}
