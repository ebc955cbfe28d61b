package checkpoint

import (
	"bytes"
	"context"
	"errors"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/blockrep/blockrep/checkpoint/vfs"
	"github.com/blockrep/blockrep/delta"
)

// TestApplyFaults fails one operation of an apply (FailAt), or that one
// and every later one (FailFrom: a disk that went bad), for every
// operation index. The store must stay at its last committed point and
// readable in the same process, or say ErrFailed and get there on reopen;
// either way it then takes the same delta again.
func TestApplyFaults(t *testing.T) {
	ctx := context.Background()
	for _, mode := range []struct {
		name string
		hook func(n int64) vfs.Hook
	}{
		{"fail one", func(n int64) vfs.Hook { return vfs.FailAt(n) }},
		{"fail from", func(n int64) vfs.Hook { return vfs.FailFrom(n) }},
	} {
		t.Run(mode.name, func(t *testing.T) {
			w := newWorld(t, 80, "vm1", 16<<10, 256<<10, 96<<10)
			w.spec.Retention = Retention{Additional: 2}
			base := setupChain(t, w, 2, change{blocks: 6, pages: true})
			oldLatest := w.latest()
			stream := w.next(change{blocks: 10, pages: true, zeros: true, copies: true})
			newID := w.latest()
			open := func(fsys *vfs.MemFS) (*DirStore, Group) {
				st, err := Open(fsys, "store", WithApplyBatch(64<<10))
				require.NoError(t, err)
				g, err := st.Group(ctx, w.group)
				require.NoError(t, err)
				return st, g
			}
			probe := base.Clone()
			st, g := open(probe)
			start := probe.Ops()
			apply(t, g, stream)
			total := probe.Ops() - start
			st.Close()
			var inProcess, reopened int
			for n := range total {
				fsys := base.Clone()
				st, g := open(fsys)
				fsys.SetHook(mode.hook(n))
				_, err := g.Apply(ctx, bytes.NewReader(stream))
				fsys.SetHook(nil)
				if err == nil {
					latest, lerr := g.Latest(ctx)
					require.NoError(t, lerr)
					require.Equal(t, newID, latest.ID)
					requireChainOf(t, g, w)
					st.Close()
					continue
				}
				require.ErrorIs(t, err, vfs.ErrInjected, "fault at %d", n)
				want := []delta.PointID{oldLatest}
				if _, perr := g.Points(ctx); errors.Is(perr, ErrFailed) {
					// The outcome was unsure (the manifest rename may or
					// may not have happened): the reopen finds out.
					st.Close()
					st, g = open(fsys)
					reopened++
					want = append(want, newID)
				} else {
					inProcess++
				}
				ids := requireChainOf(t, g, w)
				require.Contains(t, want, ids[len(ids)-1], "fault at %d", n)
				res := apply(t, g, stream)
				require.Equal(t, newID, res.Point.ID)
				requireChainOf(t, g, w)
				st.Close()
			}
			t.Logf("%d operations: %d faults handled in process, %d needed a reopen", total, inProcess, reopened)
			require.Positive(t, inProcess)
		})
	}
}

// A cancelled context stops an apply between batches and leaves the old
// point.
func TestApplyCancelled(t *testing.T) {
	w := newWorld(t, 81, "vm1", 16<<10, 512<<10)
	w.spec.Retention = Retention{Additional: 2}
	fsys, _, g := newMemStore(t, w, WithApplyBatch(64<<10))
	apply(t, g, w.next(change{blocks: 8}))
	stream := w.next(change{blocks: 30})
	ctx, cancel := context.WithCancel(context.Background())
	writes := 0
	fsys.SetHook(func(op vfs.Op) error {
		if op.Kind == vfs.OpWrite && op.Path == "store/groups/vm1/vol-000.img" {
			if writes++; writes == 3 {
				cancel()
			}
		}
		return nil
	})
	_, err := g.Apply(ctx, bytes.NewReader(stream))
	fsys.SetHook(nil)
	require.ErrorIs(t, err, context.Canceled)
	latest, err := g.Latest(context.Background())
	require.NoError(t, err)
	require.Equal(t, w.points[0].id, latest.ID)
	requirePoint(t, g, w.points[0].id, w.points[0].imgs)
	apply(t, g, stream)
	requirePoint(t, g, w.latest(), w.cur)
}
