package checkpoint

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/blockrep/blockrep/checkpoint/vfs"
	"github.com/blockrep/blockrep/delta"
)

// TestRandomOperations drives a group through a seeded random mix of what
// a replica does — applies, retention changes, pins, rollbacks, clones,
// reopening and crashing (after everything was synced) — and checks every
// point of the chain against the primary's images after each step.
func TestRandomOperations(t *testing.T) {
	ctx := context.Background()
	for _, seed := range []uint64{100, 101, 102} {
		w := newWorld(t, seed, "vm1", 16<<10, 192<<10, 80<<10+123)
		w.step = 20 * time.Minute
		w.spec.Retention = Retention{Additional: 4, Spacing: 30 * time.Minute}
		fsys := vfs.NewMem()
		// A small journal threshold makes applies and rollbacks compact
		// the hash journal now and then.
		opt := withHashLogCompact(2000)
		// Seed 101 stages deltas past 40 KiB on disk, the others in memory.
		stage := -1
		if seed == 101 {
			stage = 40 << 10
		}
		st, err := Open(fsys, "store", opt, withStage(stage))
		require.NoError(t, err)
		g, err := st.CreateGroup(ctx, w.group, w.spec)
		require.NoError(t, err)
		pins := map[delta.PointID]bool{}
		for step := range randomSteps {
			switch op := w.rng.IntN(10); {
			case op < 5:
				apply(t, g, w.next(change{blocks: 1 + w.rng.IntN(8), pages: true, zeros: w.rng.IntN(2) == 0, copies: true, app: w.rng.IntN(4) == 0}))
			case op == 5:
				r := Retention{Additional: w.rng.IntN(6), Spacing: time.Duration(1+w.rng.IntN(60)) * time.Minute, KeepApp: w.rng.IntN(2) == 0}
				require.NoError(t, g.SetRetention(ctx, r))
			case op == 6:
				pts, err := g.Points(ctx)
				require.NoError(t, err)
				if len(pts) == 0 {
					continue
				}
				p := pts[w.rng.IntN(len(pts))].ID
				if pins[p] {
					require.NoError(t, g.Unpin(ctx, p, "hold"))
					delete(pins, p)
				} else {
					require.NoError(t, g.Pin(ctx, p, "hold"))
					pins[p] = true
				}
			case op == 7:
				pts, err := g.Points(ctx)
				require.NoError(t, err)
				if len(pts) < 2 {
					continue
				}
				target := pts[w.rng.IntN(len(pts)-1)].ID
				err = g.Rollback(ctx, target)
				if err != nil {
					require.ErrorIs(t, err, ErrPinned)
					continue
				}
				w.points = w.points[:indexOf(w, target)+1]
				for i := range w.cur {
					copy(w.cur[i], w.images(target)[i])
				}
			case op == 8:
				pts, err := g.Points(ctx)
				require.NoError(t, err)
				if len(pts) == 0 {
					continue
				}
				p := pts[w.rng.IntN(len(pts))]
				c, err := g.Clone(ctx, p.ID, "c")
				require.NoError(t, err)
				_, err = c.Volumes()[0].WriteAt([]byte("scribble"), w.rng.Int64N(100<<10))
				require.NoError(t, err)
				apply(t, g, w.next(change{blocks: 4, pages: true}))
				requirePoint(t, g, p.ID, w.images(p.ID))
				require.NoError(t, c.Discard(ctx))
			default:
				require.NoError(t, st.Close())
				if w.rng.IntN(2) == 0 {
					fsys = fsys.Crash()
				}
				st, err = Open(fsys, "store", opt)
				require.NoError(t, err)
				g, err = st.Group(ctx, w.group)
				require.NoError(t, err, "step %d", step)
				require.Equal(t, Recovery{Point: w.latest()}, g.Recovered())
			}
			ids := requireChainOf(t, g, w)
			for p := range pins {
				require.Contains(t, ids, p, "pinned point pruned")
			}
			if len(ids) > 0 {
				require.Equal(t, w.latest(), ids[len(ids)-1])
			}
		}
		pts, err := g.Points(ctx)
		require.NoError(t, err)
		for _, p := range pts {
			require.NoError(t, g.Verify(ctx, p.ID))
		}
		requireChangedBlocksExact(t, g, w)
		require.NoError(t, st.Close())
	}
}

func indexOf(w *world, id delta.PointID) int {
	for i, p := range w.points {
		if p.id == id {
			return i
		}
	}
	return -1
}
