package checkpoint

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"syscall"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/blockrep/blockrep/checkpoint/vfs"
	"github.com/blockrep/blockrep/delta"
)

func TestApplyChainReadsEveryPoint(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name string
		c    change
	}{
		{"whole blocks", change{blocks: 6}},
		{"pages", change{blocks: 6, pages: true}},
		{"zeros and copies", change{blocks: 8, zeros: true, copies: true}},
		{"everything", change{blocks: 10, pages: true, zeros: true, copies: true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := newWorld(t, 1, "vm1", 16<<10, 256<<10, 200<<10+1000)
			w.spec.Retention = Retention{Additional: 10}
			_, _, g := newMemStore(t, w)
			_, err := g.Latest(ctx)
			require.ErrorIs(t, err, ErrNoPoint)
			for range 8 {
				res := apply(t, g, w.next(tc.c))
				assert.False(t, res.Replayed)
				assert.Equal(t, w.latest(), res.Point.ID)
			}
			pts, err := g.Points(ctx)
			require.NoError(t, err)
			require.Len(t, pts, 8)
			for i, p := range pts {
				assert.Equal(t, w.points[i].id, p.ID)
				requirePoint(t, g, p.ID, w.points[i].imgs)
				require.NoError(t, g.Verify(ctx, p.ID))
			}
		})
	}
}

func TestApplyRefusesBadInput(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t, 2, "vm1", 16<<10, 128<<10)
	w.spec.Retention = Retention{Additional: 3}
	fsys, _, g := newMemStore(t, w)
	first := w.next(change{blocks: 4})
	apply(t, g, first)
	good := w.next(change{blocks: 4, pages: true})
	w.forget()

	other := newWorld(t, 3, "vm1", 16<<10, 64<<10)
	wrongSize := other.next(change{blocks: 2})
	otherGroup := newWorld(t, 4, "vm2", 16<<10, 128<<10).next(change{blocks: 2})
	bs := newWorld(t, 5, "vm1", 32<<10, 128<<10).next(change{blocks: 2})
	fromScratch := newWorld(t, 6, "vm1", 16<<10, 128<<10).next(change{blocks: 2})

	corrupt := bytes.Clone(good)
	corrupt[len(corrupt)/2] ^= 0x40
	for _, tc := range []struct {
		name   string
		stream []byte
		want   error
	}{
		{"truncated", good[:len(good)-7], delta.ErrCorrupt},
		{"truncated header", good[:20], delta.ErrCorrupt},
		{"corrupted", corrupt, delta.ErrCorrupt},
		{"empty", nil, delta.ErrCorrupt},
		{"wrong volume size", wrongSize, ErrBaseMismatch},
		{"other group", otherGroup, ErrBaseMismatch},
		{"block size", bs, ErrBaseMismatch},
		{"base not latest", fromScratch, ErrBaseMismatch},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := fsys.Snapshot()
			_, err := g.Apply(ctx, bytes.NewReader(tc.stream))
			require.ErrorIs(t, err, tc.want)
			assert.Equal(t, before, fsys.Snapshot(), "store changed")
			requirePoint(t, g, w.latest(), w.points[0].imgs)
		})
	}
	// The good one still applies afterwards.
	w.points = w.points[:1]
	copy(w.cur[0], w.points[0].imgs[0])
	apply(t, g, w.next(change{blocks: 4, pages: true}))
	requirePoint(t, g, w.latest(), w.cur)
}

func TestApplyVolumeMismatch(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t, 7, "vm1", 16<<10, 128<<10)
	_, _, g := newMemStore(t, w)
	for _, sizes := range [][]int64{{64 << 10}, {128 << 10, 16 << 10}} {
		o := newWorld(t, 8, "vm1", 16<<10, sizes...)
		_, err := g.Apply(ctx, bytes.NewReader(o.next(change{blocks: 1})))
		require.ErrorIs(t, err, ErrVolumeMismatch)
	}
	o := newWorld(t, 9, "vm1", 32<<10, 128<<10)
	_, err := g.Apply(ctx, bytes.NewReader(o.next(change{blocks: 1})))
	require.ErrorIs(t, err, ErrVolumeMismatch)
}

func TestApplyReplayIsAcknowledged(t *testing.T) {
	w := newWorld(t, 10, "vm1", 16<<10, 128<<10)
	w.spec.Retention = Retention{Additional: 4}
	fsys, _, g := newMemStore(t, w)
	s1 := w.next(change{blocks: 3})
	s2 := w.next(change{blocks: 3})
	apply(t, g, s1)
	apply(t, g, s2)
	for _, s := range [][]byte{s1, s2} {
		before := fsys.Snapshot()
		res := apply(t, g, s)
		assert.True(t, res.Replayed)
		assert.Equal(t, before, fsys.Snapshot())
	}
	requirePoint(t, g, w.points[0].id, w.points[0].imgs)
	requirePoint(t, g, w.points[1].id, w.points[1].imgs)
}

func TestApplyDiskFull(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t, 11, "vm1", 16<<10, 256<<10)
	w.spec.Retention = Retention{Additional: 4}
	fsys, _, g := newMemStore(t, w)
	apply(t, g, w.next(change{blocks: 6}))
	stream := w.next(change{blocks: 12, pages: true})
	// Find capacities that fail at different steps: staging, undo, hashes, manifest.
	failures := 0
	for extra := int64(0); extra < int64(len(stream))+256<<10; extra += 4 << 10 {
		fsys.SetCapacity(fsys.Used() + extra)
		_, err := g.Apply(ctx, bytes.NewReader(stream))
		fsys.SetCapacity(-1)
		if err == nil {
			break
		}
		require.ErrorIs(t, err, syscall.ENOSPC)
		failures++
		requirePoint(t, g, w.points[0].id, w.points[0].imgs)
		latest, err := g.Latest(ctx)
		require.NoError(t, err)
		require.Equal(t, w.points[0].id, latest.ID)
	}
	require.Greater(t, failures, 3)
	requirePoint(t, g, w.latest(), w.cur)
}

func TestApplyCarriesMetadata(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t, 12, "vm1", 16<<10, 64<<10)
	w.spec.Meta = []byte("created")
	_, _, g := newMemStore(t, w)
	apply(t, g, w.next(change{blocks: 2}))
	assert.Equal(t, []byte("created"), g.Spec().Meta, "a delta without metadata keeps the group's")
	apply(t, g, w.next(change{blocks: 2, meta: []byte("vm config v2")}))
	assert.Equal(t, []byte("vm config v2"), g.Spec().Meta)
	require.NoError(t, g.SetMeta(ctx, []byte("edited")))
	assert.Equal(t, []byte("edited"), g.Spec().Meta)
	require.ErrorIs(t, g.SetMeta(ctx, make([]byte, MaxMetaSize+1)), ErrInvalidSpec)
}

// A long run of zeroed blocks (a trim of a whole volume) is one record;
// its undo is still written out (and synced) in bounded pieces: the buffer
// never holds more than a batch.
func TestApplyLongZeroRunIsBatched(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t, 13, "vm1", 16<<10, 4<<20)
	w.spec.Retention = Retention{Additional: 1}
	fsys, _, g := newMemStore(t, w, WithApplyBatch(64<<10))
	all := w.geoms[0].Blocks()
	apply(t, g, w.next(change{blocks: int(all) * 4}))
	// Zero every block the primary has.
	src := &testSource{geoms: w.geoms, imgs: w.cur, pages: []map[int64]delta.PageMask{nil}}
	set := delta.NewSet(all)
	set.AddRange(0, all)
	src.blocks = []*delta.Set{set}
	clear(w.cur[0])
	id, err := delta.NewPointID(w.ids)
	require.NoError(t, err)
	var buf bytes.Buffer
	enc, err := delta.NewEncoder(&buf, delta.Header{Group: w.group, Base: w.latest(), New: id, Time: w.clock, BlockSize: w.spec.BlockSize, Volumes: w.spec.Volumes})
	require.NoError(t, err)
	stats, err := enc.Encode(ctx, src)
	require.NoError(t, err)
	require.Equal(t, all, stats.ZeroBlocks)
	w.points = append(w.points, worldPoint{id: id, imgs: [][]byte{bytes.Clone(w.cur[0])}})
	syncs, writes := 0, 0
	fsys.SetHook(func(op vfs.Op) error {
		if strings.HasSuffix(op.Path, ".undo") {
			switch op.Kind {
			case vfs.OpSync:
				syncs++
			case vfs.OpWrite:
				writes++
			}
		}
		return nil
	})
	apply(t, g, buf.Bytes())
	fsys.SetHook(nil)
	assert.GreaterOrEqual(t, writes, int(all)/4, "undo written in pieces of 4 blocks")
	assert.GreaterOrEqual(t, syncs, int(all)/4, "undo synced in pieces of 4 blocks")
	requireChainOf(t, g, w)
	require.NoError(t, g.Verify(ctx, id))
	require.NoError(t, g.Verify(ctx, w.points[0].id))
}

// A stream whose damage shows only at its end — the trailer's stream hash,
// the trailer's record count, a record past the stage memory, the
// trailer cut off — is refused after the stage memory filled and the rest
// spilled to the staging file, and changes nothing: volumes, undo logs,
// manifest and staging directory are as before.
func TestApplyRefusesStreamDamagedPastStageMemory(t *testing.T) {
	ctx := context.Background()
	for _, stage := range []int{0, 40 << 10, 120 << 10} {
		t.Run(fmt.Sprintf("stage=%d", stage), func(t *testing.T) {
			w := newWorld(t, 14, "vm1", 16<<10, 1<<20)
			w.spec.Retention = Retention{Additional: 2}
			fsys, _, g := newMemStore(t, w, WithStageMemory(stage), WithApplyBatch(64<<10))
			apply(t, g, w.next(change{blocks: 40}))
			good := w.next(change{blocks: 30, pages: true, zeros: true})
			w.forget()
			require.Greater(t, len(good), 150<<10, "the stream outgrows the stage memory")
			hash := bytes.Clone(good)
			hash[len(hash)-1] ^= 1
			count := bytes.Clone(good)
			count[len(count)-33] ^= 1
			late := bytes.Clone(good)
			late[len(late)-100] ^= 0x10
			for _, tc := range []struct {
				name   string
				stream []byte
			}{
				{"stream hash", hash},
				{"record count", count},
				{"last record", late},
				{"no trailer", good[:len(good)-41]},
				{"trailer cut", good[:len(good)-1]},
			} {
				before := fsys.Snapshot()
				_, err := g.Apply(ctx, bytes.NewReader(tc.stream))
				require.ErrorIs(t, err, delta.ErrCorrupt, tc.name)
				assert.Equal(t, before, fsys.Snapshot(), "%s: store changed", tc.name)
				requirePoint(t, g, w.latest(), w.points[0].imgs)
			}
			w.points = w.points[:1]
			copy(w.cur[0], w.points[0].imgs[0])
			apply(t, g, w.next(change{blocks: 30, pages: true, zeros: true}))
			requireChainOf(t, g, w)
		})
	}
}

// backgroundSync runs one sync at a time, starts one at the first write,
// and after the last write makes sure a sync started after it.
func TestBackgroundSync(t *testing.T) {
	var bg backgroundSync
	began := make(chan struct{}, 8)
	release := make(chan error)
	sync := func() error {
		began <- struct{}{}
		return <-release
	}
	require.NoError(t, bg.kickAfter(sync), "nothing written, nothing to sync")
	require.NoError(t, bg.wait())
	require.Empty(t, began)

	require.NoError(t, bg.kick(sync)) // write 1: sync 1 starts
	<-began
	require.NoError(t, bg.kick(sync)) // write 2: sync 1 still runs
	require.NoError(t, bg.kick(sync)) // write 3
	release <- nil                    // sync 1 ends
	waitDone(&bg)
	require.NoError(t, bg.kick(sync)) // write 4: sync 2 starts, covers 2..4
	<-began
	require.NoError(t, bg.kickAfter(sync), "sync 2 covers the last write")
	release <- nil
	require.NoError(t, bg.wait())
	require.Empty(t, began, "two syncs in all")

	// A write during the running sync needs one more after it; its error
	// comes back from wait.
	boom := errors.New("sync failed")
	require.NoError(t, bg.kick(sync)) // sync 3
	<-began
	require.NoError(t, bg.kick(sync)) // during sync 3
	go func() { release <- nil; <-began; release <- boom }()
	require.NoError(t, bg.kickAfter(sync)) // waits for sync 3, starts sync 4
	require.ErrorIs(t, bg.wait(), boom)
	require.NoError(t, bg.wait(), "nothing runs")

	// A failed sync's error comes back from the next kick.
	require.NoError(t, bg.kick(sync)) // sync 5
	<-began
	release <- boom
	waitDone(&bg)
	require.ErrorIs(t, bg.kick(sync), boom)
	require.NoError(t, bg.wait())
	require.Empty(t, began)
}

// waitDone waits until the running sync's result is ready, without
// taking it.
func waitDone(bg *backgroundSync) {
	for len(bg.done) == 0 {
		runtime.Gosched()
	}
}
