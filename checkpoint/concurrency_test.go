package checkpoint

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/require"
)

// Readers of old points, and of whatever is latest, read continuously
// while deltas are applied and retention prunes (merging undo logs) around
// the points they hold; every byte they read must be the point's.
func TestReadsDuringApplyAndPrune(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t, 40, "vm1", 16<<10, 384<<10, 128<<10+777)
	_, _, g := newMemStore(t, w, WithApplyBatch(64<<10))
	// Latest-only retention: every apply prunes the previous point unless a
	// view holds it, so the held points' logs get merged under the readers.
	var views []View
	apply(t, g, w.next(change{blocks: 8, pages: true, zeros: true}))
	for range 2 {
		apply(t, g, w.next(change{blocks: 8, pages: true, zeros: true}))
		v, err := g.OpenPoint(ctx, w.latest())
		require.NoError(t, err)
		views = append(views, v)
	}
	var stop atomic.Bool
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	reads := make([]atomic.Int64, len(views)+1)
	for i, v := range views {
		want := w.images(v.Point().ID)
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(i), 1))
			for !stop.Load() {
				if err := readRandom(rng, v.Volumes(), want); err != nil {
					errs <- fmt.Errorf("view of point %d: %w", i+1, err)
					return
				}
				reads[i].Add(1)
			}
		}()
	}
	// A reader of "the latest point", whatever it is when it looks.
	var mu sync.Mutex
	images := map[string][][]byte{}
	record := func() {
		mu.Lock()
		defer mu.Unlock()
		p := w.points[len(w.points)-1]
		images[p.id.String()] = p.imgs
	}
	record()
	wg.Add(1)
	go func() {
		defer wg.Done()
		rng := rand.New(rand.NewPCG(99, 1))
		for !stop.Load() {
			p, err := g.Latest(ctx)
			if err != nil {
				errs <- err
				return
			}
			v, err := g.OpenPoint(ctx, p.ID)
			if err != nil {
				continue // pruned between Latest and OpenPoint
			}
			mu.Lock()
			want := images[p.ID.String()]
			mu.Unlock()
			err = readRandom(rng, v.Volumes(), want)
			v.Close()
			if err != nil {
				errs <- fmt.Errorf("latest view: %w", err)
				return
			}
			reads[len(views)].Add(1)
		}
	}()
	for range applies {
		stream := w.next(change{blocks: 10, pages: true, zeros: true, copies: true})
		record()
		if _, err := g.Apply(ctx, bytes.NewReader(stream)); err != nil {
			stop.Store(true)
			wg.Wait()
			require.NoError(t, err)
		}
	}
	stop.Store(true)
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	for i := range reads {
		t.Logf("reader %d: %d reads", i, reads[i].Load())
	}
	pts, err := g.Points(ctx)
	require.NoError(t, err)
	// The held points and the latest, and perhaps the one the latest reader
	// held during the last prune.
	require.Equal(t, views[0].Point().ID, pts[0].ID)
	require.Equal(t, views[1].Point().ID, pts[1].ID)
	require.Equal(t, w.latest(), pts[len(pts)-1].ID)
	require.LessOrEqual(t, len(pts), 2+len(views))
	for _, v := range views {
		require.NoError(t, v.Close())
	}
	_, err = g.Prune(ctx)
	require.NoError(t, err)
	pts, err = g.Points(ctx)
	require.NoError(t, err)
	require.Len(t, pts, 1)
	requirePoint(t, g, w.latest(), w.cur)
}

// readRandom reads a random range of a random volume and compares it.
func readRandom(rng *rand.Rand, vols []VolumeReader, want [][]byte) error {
	v := rng.IntN(len(vols))
	size := vols[v].Size()
	off := rng.Int64N(size)
	n := min(1+rng.Int64N(96<<10), size-off)
	buf := make([]byte, n)
	if _, err := vols[v].ReadAt(buf, off); err != nil {
		return err
	}
	if !bytes.Equal(buf, want[v][off:off+n]) {
		return fmt.Errorf("volume %d [%d, %d): differs at +%d", v, off, off+n, firstDiff(buf, want[v][off:off+n]))
	}
	return nil
}
