package checkpoint

import (
	"bytes"
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/blockrep/blockrep/checkpoint/vfs"
	"github.com/blockrep/blockrep/delta"
)

// crashLoop runs op against a copy of base once to count its filesystem
// operations, then once per operation index n with a crash at n (every
// third n a torn crash that also keeps random unsynced writes), reopens the
// store on what survived and calls check with what op returned (nil when
// the crash hit clean-up after the commit). It returns the operation count.
func crashLoop(t *testing.T, base *vfs.MemFS, group string, op func(Group) error, check func(t *testing.T, g Group, n int64, opErr error), opts ...Option) int64 {
	return crashLoopReopen(t, base, group, op, func(t *testing.T, g Group, n int64, opErr error, _ func() Group) {
		check(t, g, n, opErr)
	}, opts...)
}

// crashLoopReopen is crashLoop whose check can also crash and reopen the
// store again (keeping only synced data).
func crashLoopReopen(t *testing.T, base *vfs.MemFS, group string, op func(Group) error, check func(t *testing.T, g Group, n int64, opErr error, recrash func() Group), opts ...Option) int64 {
	t.Helper()
	ctx := context.Background()
	open := func(fsys *vfs.MemFS) (*DirStore, Group) {
		st, err := Open(fsys, "store", opts...)
		require.NoError(t, err)
		g, err := st.Group(ctx, group)
		require.NoError(t, err)
		return st, g
	}
	probe := base.Clone()
	st, g := open(probe)
	start := probe.Ops()
	require.NoError(t, op(g))
	total := probe.Ops() - start
	st.Close()
	// n == total crashes right after the operation returned: what it
	// reported done must be durable, and nothing it left may act later.
	for n := range total + 1 {
		fsys := base.Clone()
		st, g := open(fsys)
		if n < total {
			fsys.CrashAt(n)
		}
		err := op(g)
		var after *vfs.MemFS
		if n%3 == 2 {
			after = fsys.CrashRandom(uint64(n))
		} else {
			after = fsys.Crash()
		}
		st.Close()
		cur := after
		st2, g2 := open(cur)
		recrash := func() Group {
			st2.Close()
			cur = cur.Crash()
			st2, g2 = open(cur)
			return g2
		}
		check(t, g2, n, err, recrash)
		st2.Close()
	}
	return total
}

// withHashLogCompact sets the hash journal's compaction threshold (0 keeps
// the default).
func withHashLogCompact(n int64) Option {
	return func(o *options) error {
		o.hashLogCompact = n
		return nil
	}
}

// setupChain builds a store on a MemFS with the world's group and applies
// count points; it returns the MemFS, settled (closed) for cloning.
func setupChain(t *testing.T, w *world, count int, c change) *vfs.MemFS {
	t.Helper()
	fsys := vfs.NewMem()
	st, err := Open(fsys, "store")
	require.NoError(t, err)
	g, err := st.CreateGroup(context.Background(), w.group, w.spec)
	require.NoError(t, err)
	for range count {
		apply(t, g, w.next(c))
	}
	require.NoError(t, st.Close())
	return fsys
}

// requireChainOf checks that the group's chain is made of world points
// with their exact content.
func requireChainOf(t *testing.T, g Group, w *world) []delta.PointID {
	t.Helper()
	pts, err := g.Points(context.Background())
	require.NoError(t, err)
	var ids []delta.PointID
	for _, p := range pts {
		requirePoint(t, g, p.ID, w.images(p.ID))
		ids = append(ids, p.ID)
	}
	return ids
}

func TestCrashDuringApply(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name    string
		before  int // points before the crashing apply
		c       change
		compact int64 // hash journal compaction threshold, 0 for the default
		stage   int   // stage memory; -1 for the default (all in memory)
	}{
		{"initial", 0, change{blocks: 10, zeros: true}, 0, -1},
		{"initial with pages and copies", 0, change{blocks: 12, pages: true, zeros: true, copies: true}, 0, -1},
		{"initial with hash journal compaction", 0, change{blocks: 12, pages: true, copies: true}, 900, -1},
		{"second", 1, change{blocks: 10, pages: true, copies: true}, 0, -1},
		{"with chain", 3, change{blocks: 12, pages: true, zeros: true, copies: true}, 0, -1},
		{"hash journal compaction", 3, change{blocks: 12, pages: true}, 900, -1},
		{"staged on disk", 1, change{blocks: 10, pages: true, zeros: true, copies: true}, 0, 0},
		{"spilled to disk", 1, change{blocks: 10, pages: true, zeros: true, copies: true}, 0, 40 << 10},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := newWorld(t, 20, "vm1", 16<<10, 256<<10, 160<<10+5000)
			w.spec.Retention = Retention{Additional: 2}
			base := setupChain(t, w, tc.before, change{blocks: 4, pages: true})
			oldLatest := w.latest()
			oldChainLen := min(tc.before, 3)
			stream := w.next(tc.c)
			newID := w.latest()
			var sawOld, sawNew int
			total := crashLoop(t, base, w.group, func(g Group) error {
				_, err := g.Apply(ctx, bytes.NewReader(stream))
				return err
			}, func(t *testing.T, g Group, n int64, opErr error) {
				ids := requireChainOf(t, g, w)
				latest := delta.PointID{}
				if len(ids) > 0 {
					latest = ids[len(ids)-1]
				}
				require.Equal(t, latest, g.Recovered().Point)
				switch latest {
				case oldLatest:
					sawOld++
					require.Error(t, opErr, "apply succeeded but the crash at %d lost it", n)
					require.Len(t, ids, oldChainLen, "crash at %d", n)
					if oldLatest.IsZero() {
						for i, img := range w.cur {
							requireZeroVolume(t, g, i, len(img))
						}
					}
					// The store takes the same delta again.
					res := apply(t, g, stream)
					require.Equal(t, newID, res.Point.ID)
					requireChainOf(t, g, w)
				case newID:
					sawNew++
				default:
					t.Fatalf("crash at %d: store at unexpected point %s", n, latest)
				}
			}, WithApplyBatch(64<<10), withHashLogCompact(tc.compact), withStage(tc.stage))
			t.Logf("%d operations, %d crashes left the old point, %d the new", total, sawOld, sawNew)
			require.Positive(t, sawOld)
			require.Positive(t, sawNew)
		})
	}
}

// requireZeroVolume checks the live volume of a group without points.
// withStage sets the stage memory, n < 0 leaving the default.
func withStage(n int) Option {
	if n < 0 {
		return func(*options) error { return nil }
	}
	return WithStageMemory(n)
}

func requireZeroVolume(t *testing.T, g Group, vol, size int) {
	t.Helper()
	dg := g.(*dirGroup)
	b := make([]byte, size)
	require.NoError(t, readFull(dg.vols[vol], b, 0))
	if !allZero(b) {
		t.Fatalf("volume %d of a group without points is not zero at byte %d", vol, firstDiff(b, make([]byte, size)))
	}
}

func TestCrashDuringPrune(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t, 21, "vm1", 16<<10, 96<<10, 40<<10)
	w.step = 25 * time.Minute
	w.spec.Retention = Retention{Additional: 100, Spacing: time.Minute}
	base := setupChain(t, w, 9, change{blocks: 5, pages: true, zeros: true})
	all := make([]delta.PointID, len(w.points))
	for i, p := range w.points {
		all[i] = p.id
	}
	// Keep two hourly points: prunes the oldest ones and merges middle ones.
	r := Retention{Additional: 2}
	want := keptIDs(w, r)
	require.Less(t, len(want), len(all)-2)
	var partial int
	total := crashLoop(t, base, w.group, func(g Group) error {
		return g.SetRetention(ctx, r)
	}, func(t *testing.T, g Group, n int64, opErr error) {
		ids := requireChainOf(t, g, w)
		require.Equal(t, all[len(all)-1], ids[len(ids)-1])
		require.Subset(t, all, ids)
		require.Subset(t, ids, want)
		if len(ids) != len(all) && len(ids) != len(want) {
			partial++
		}
		_, err := g.Prune(ctx)
		require.NoError(t, err)
		requireChainOf(t, g, w)
		requireChangedBlocksExact(t, g, w)
	})
	t.Logf("%d points, %d kept; %d operations, %d crashes between single prunes", len(all), len(want), total, partial)
}

// keptIDs is what retention r keeps of the world's points.
func keptIDs(w *world, r Retention) []delta.PointID {
	pts := make([]Point, len(w.points))
	for i, p := range w.points {
		pts[i] = Point{ID: p.id, Time: time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC).Add(time.Duration(i) * w.step)}
		if p.app {
			pts[i].Consistency = delta.ConsistencyApp
		}
	}
	var ids []delta.PointID
	for i, k := range r.keep(pts) {
		if k {
			ids = append(ids, pts[i].ID)
		}
	}
	return ids
}

// requireChangedBlocksExact checks ChangedBlocks between neighbours of the
// chain against the blocks where the world's images differ: every
// differing block must be in the set.
func requireChangedBlocksExact(t *testing.T, g Group, w *world) {
	t.Helper()
	ctx := context.Background()
	pts, err := g.Points(ctx)
	require.NoError(t, err)
	for i := 1; i < len(pts); i++ {
		sets, err := g.ChangedBlocks(ctx, pts[i-1].ID, pts[i].ID)
		require.NoError(t, err)
		a, b := w.images(pts[i-1].ID), w.images(pts[i].ID)
		for v, geo := range w.geoms {
			for blk := range geo.Blocks() {
				off, n := geo.BlockBounds(blk)
				if !bytes.Equal(a[v][off:off+int64(n)], b[v][off:off+int64(n)]) {
					require.True(t, sets[v].Contains(blk), "block %d of volume %d changed but not reported", blk, v)
				}
			}
		}
	}
}

// TestCrashDuringRollback crashes at every operation of a rollback followed
// by the first apply from the rolled-back point (as replication resumes
// after a failover), and right after both.
func TestCrashDuringRollback(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t, 22, "vm1", 16<<10, 80<<10, 48<<10)
	w.spec.Retention = Retention{Additional: 10}
	base := setupChain(t, w, 5, change{blocks: 5, pages: true, zeros: true, copies: true})
	target := w.points[1].id
	oldLatest := w.latest()
	// The delta the primary sends after failing over to target.
	old := w.points
	w.points = append([]worldPoint(nil), w.points[:2]...)
	for i := range w.cur {
		copy(w.cur[i], w.images(target)[i])
	}
	resumed := w.next(change{blocks: 5, pages: true})
	after := w.latest()
	w.points = append(old, w.points[2])
	var sawOld, sawTarget, sawAfter int
	total := crashLoop(t, base, w.group, func(g Group) error {
		if err := g.Rollback(ctx, target); err != nil {
			return err
		}
		_, err := g.Apply(ctx, bytes.NewReader(resumed))
		return err
	}, func(t *testing.T, g Group, n int64, opErr error) {
		pts, err := g.Points(ctx)
		require.NoError(t, err)
		ids := idsOf(pts)
		latest := ids[len(ids)-1]
		switch {
		case latest == oldLatest:
			sawOld++
			require.Error(t, opErr)
			require.Len(t, ids, 5)
		case latest == target:
			sawTarget++
			require.Error(t, opErr)
			require.Equal(t, []delta.PointID{w.points[0].id, target}, ids)
		case latest == after:
			sawAfter++
			require.Equal(t, []delta.PointID{w.points[0].id, target, after}, ids)
		default:
			t.Fatalf("crash at %d: unexpected latest point", n)
		}
		for _, id := range ids {
			requirePoint(t, g, id, w.images(id))
		}
		require.NoError(t, g.Verify(ctx, latest))
	})
	t.Logf("%d operations: %d crashes left the old chain, %d the rolled-back one, %d the resumed one", total, sawOld, sawTarget, sawAfter)
	require.Positive(t, sawOld)
	require.Positive(t, sawTarget)
	require.Positive(t, sawAfter)
}

// A crash while a group is created leaves no group or a complete one.
func TestCrashDuringCreateGroup(t *testing.T) {
	ctx := context.Background()
	spec := GroupSpec{BlockSize: 16 << 10, Volumes: []delta.VolumeInfo{{ID: "a", Size: 200 << 10}, {ID: "b", Size: 50 << 10}}}
	base := vfs.NewMem()
	st, err := Open(base, "store")
	require.NoError(t, err)
	require.NoError(t, st.Close())
	probe := base.Clone()
	st, err = Open(probe, "store")
	require.NoError(t, err)
	start := probe.Ops()
	_, err = st.CreateGroup(ctx, "vm1", spec)
	require.NoError(t, err)
	total := probe.Ops() - start
	st.Close()
	var none, whole int
	for n := range total {
		fsys := base.Clone()
		st, err := Open(fsys, "store")
		require.NoError(t, err)
		fsys.CrashAt(n)
		_, cerr := st.CreateGroup(ctx, "vm1", spec)
		st.Close()
		st2, err := Open(fsys.Crash(), "store")
		require.NoError(t, err)
		g, err := st2.Group(ctx, "vm1")
		if errors.Is(err, ErrUnknownGroup) {
			none++
			require.Error(t, cerr)
			_, err = st2.CreateGroup(ctx, "vm1", spec)
			require.NoError(t, err, "crash at %d", n)
		} else {
			require.NoError(t, err, "crash at %d", n)
			whole++
			w := newWorld(t, 90, "vm1", 16<<10, 200<<10, 50<<10)
			w.spec.Volumes = spec.Volumes
			apply(t, g, w.next(change{blocks: 3}))
			requirePoint(t, g, w.latest(), w.cur)
		}
		st2.Close()
	}
	t.Logf("%d operations: %d crashes left no group, %d a whole one", total, none, whole)
	require.Positive(t, none)
	require.Positive(t, whole)
}
