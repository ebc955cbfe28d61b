package replica_test

import (
	"bytes"
	"context"
	"errors"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/blockrep/blockrep/checkpoint"
	"github.com/blockrep/blockrep/delta"
	"github.com/blockrep/blockrep/replica"
	"github.com/blockrep/blockrep/transport"
	"github.com/blockrep/blockrep/transport/memory"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// scribbleBlocks overwrites the given blocks (4 KiB) of v with random bytes from
// rng, directly: the tracker does not see these writes.
func scribbleBlocks(t *testing.T, v replica.Volume, rng *rand.Rand, blocks ...int64) {
	t.Helper()
	b := make([]byte, 4096)
	for _, blk := range blocks {
		for i := range b {
			b[i] = byte(rng.Uint32())
		}
		_, err := v.WriteAt(b, blk*4096)
		require.NoError(t, err)
	}
}

// Invariant 8, tracking lost: the primary restarts with its tracking state
// damaged while its volume was also edited behind the tracker's back. The
// relationship requires resynchronization; Resynchronize compares hashes
// level by level, sends exactly the blocks that differ, and the replica's
// new point is the primary's volume byte for byte.
func TestResyncAfterTrackingLost(t *testing.T) {
	const size = 1 << 20 // 256 blocks of 4 KiB
	seed := uint64(20261125)
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 1))
	e := newEnv(t)
	path := filepath.Join(t.TempDir(), "vm1.track")
	sf, err := delta.CreateStateFile(path)
	require.NoError(t, err)
	cfg, vols := groupConfig("vm1", size, 1)
	cfg.TrackerState = sf
	for blk := int64(0); blk < 256; blk += 2 {
		scribbleBlocks(t, vols[0], rng, blk)
	}
	rel, err := e.primary.Enable(e.ctx, cfg)
	require.NoError(t, err)
	_, err = rel.InitialReplication(e.ctx)
	require.NoError(t, err)
	e.event()
	fill(t, rel.Volume(0), 40960, 8192, 4)
	_, err = rel.Cycle(e.ctx)
	require.NoError(t, err)
	e.event()
	last, _, _ := rel.LastPoint()
	require.NoError(t, e.primary.Remove(e.ctx, "vm1"))

	// While the host is down, the state file is lost and someone edits
	// the volume: 5 blocks change, one is rewritten with its own content.
	require.NoError(t, os.Remove(path))
	behind := []int64{3, 4, 100, 200, 255}
	scribbleBlocks(t, vols[0], rng, behind...)
	same := make([]byte, 4096)
	copy(same, vols[0].snapshot()[7*4096:])
	_, err = vols[0].WriteAt(same, 7*4096)
	require.NoError(t, err)

	sf, err = delta.CreateStateFile(path)
	require.NoError(t, err)
	cfg.TrackerState = sf
	rel, err = e.primary.Reattach(e.ctx, cfg, last)
	require.NoError(t, err)
	require.Equal(t, replica.ResynchronizationRequired, rel.State())
	// The host writes through the new tracker before the resync: one more
	// block differs.
	fill(t, rel.Volume(0), 150*4096, 4096, 5)

	res, err := rel.Resynchronize(e.ctx)
	require.NoError(t, err)
	ev := e.event()
	assert.True(t, ev.Resync)
	assert.NoError(t, ev.Err)
	assert.Equal(t, res.Point, ev.Result.Point)
	assert.Equal(t, replica.Replicating, rel.State())
	assert.Equal(t, last, res.Base)
	assert.Equal(t, int64(6), res.DifferingBlocks, "blocks 3, 4, 100, 150, 200, 255")
	assert.Equal(t, int64(6), res.Blocks)
	allHashes := int64(256 * delta.HashSize)
	assert.Less(t, res.HashBytes, allHashes, "hash traffic %d bytes, every block hash %d", res.HashBytes, allHashes)
	assert.Equal(t, int64(6), res.HashRounds, "one query a level of the fan-out 4 tree over 256 blocks, one of page digests")
	assert.Equal(t, int64(6), res.DifferingPages, "blocks of one page each")
	assert.Equal(t, int64(6), res.Pages)
	t.Logf("hash traffic %d bytes in %d rounds, delta %d bytes", res.HashBytes, res.HashRounds, res.StreamBytes)
	pts := e.points("vm1")
	require.Len(t, pts, 1, "retention keeps the latest point only")
	assert.Equal(t, res.Point, pts[0].ID)
	assert.Equal(t, res.Hash, pts[0].Hash)
	assert.Equal(t, int64(6), pts[0].ChangedBlocks())
	assert.Equal(t, [][]byte{vols[0].snapshot()}, e.pointImages("vm1", res.Point))
	assert.Equal(t, res, rel.LastResync())
	got, _, hash := rel.LastPoint()
	assert.Equal(t, res.Point, got)
	assert.Equal(t, res.Hash, hash)

	// Cycles go on from the resynchronized point.
	fill(t, rel.Volume(0), 0, 100, 6)
	c, err := rel.Cycle(e.ctx)
	require.NoError(t, err)
	e.event()
	assert.Equal(t, res.Point, c.Base)
	assert.Equal(t, int64(1), c.Blocks)
	assert.Equal(t, [][]byte{vols[0].snapshot()}, e.pointImages("vm1", c.Point))
}

// The operator asks for a resynchronization of a Replicating relationship
// whose volumes were edited behind the tracker's back, while the host
// keeps writing through the tracked volumes. The replica's point is the
// primary's image at the resync's freeze (their content hashes agree, which
// Resynchronize checks), and the next cycle brings the writes made since.
func TestResyncWhileWriting(t *testing.T) {
	const size = 2 << 20
	seed := uint64(77)
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 2))
	e := newEnv(t)
	cfg, vols := groupConfig("vm1", size, 2)
	rel, err := e.primary.Enable(e.ctx, cfg)
	require.NoError(t, err)
	_, err = rel.InitialReplication(e.ctx)
	require.NoError(t, err)
	e.event()
	scribbleBlocks(t, vols[0], rng, 10, 11, 300)
	scribbleBlocks(t, vols[1], rng, 0, 511)

	base := [][]byte{vols[0].snapshot(), vols[1].snapshot()}
	type write struct {
		vol  int
		off  int64
		data []byte
	}
	const maxWrites = 4000
	var log []write // the writer's, read after wg.Wait
	var wg sync.WaitGroup
	stop := make(chan struct{})
	wg.Add(1)
	go func() {
		defer wg.Done()
		wrng := rand.New(rand.NewPCG(seed, 3))
		for len(log) < maxWrites {
			select {
			case <-stop:
				return
			default:
			}
			w := write{vol: wrng.IntN(2), off: wrng.Int64N(size/4096) * 4096, data: make([]byte, 4096)}
			for i := range w.data {
				w.data[i] = byte(wrng.Uint32())
			}
			if _, err := rel.Volume(w.vol).WriteAt(w.data, w.off); err != nil {
				t.Errorf("write: %v", err)
				return
			}
			log = append(log, w)
			runtime.Gosched()
		}
	}()
	res, err := rel.Resynchronize(e.ctx)
	close(stop)
	wg.Wait()
	require.NoError(t, err)
	e.event()
	assert.GreaterOrEqual(t, res.DifferingBlocks, int64(5))
	assert.GreaterOrEqual(t, res.Blocks, res.DifferingBlocks)
	assert.Equal(t, replica.Replicating, rel.State())

	// The writer's writes are ordered, so the image at the freeze is the
	// base plus a prefix of them: find the prefix the point equals, block
	// by block, byte for byte.
	point := e.pointImages("vm1", res.Point)
	img := [][]byte{bytes.Clone(base[0]), bytes.Clone(base[1])}
	mismatched := 0
	for v := range img {
		for off := 0; off < size; off += 4096 {
			if !bytes.Equal(img[v][off:off+4096], point[v][off:off+4096]) {
				mismatched++
			}
		}
	}
	prefix := -1
	for k := 0; ; k++ {
		if mismatched == 0 {
			prefix = k
			break
		}
		if k == len(log) {
			break
		}
		w := log[k]
		was := bytes.Equal(img[w.vol][w.off:w.off+4096], point[w.vol][w.off:w.off+4096])
		copy(img[w.vol][w.off:], w.data)
		now := bytes.Equal(img[w.vol][w.off:w.off+4096], point[w.vol][w.off:w.off+4096])
		switch {
		case was && !now:
			mismatched++
		case !was && now:
			mismatched--
		}
	}
	require.GreaterOrEqual(t, prefix, 0, "the resynchronized point is not the primary's image after any prefix of the writes")
	t.Logf("%d writes in all, the point holds the first %d; %d blocks differed, %d sent", len(log), prefix, res.DifferingBlocks, res.Blocks)
	g, err := e.store.Group(e.ctx, "vm1")
	require.NoError(t, err)
	require.NoError(t, g.Verify(e.ctx, res.Point))

	c, err := rel.Cycle(e.ctx)
	require.NoError(t, err)
	e.event()
	assert.Equal(t, [][]byte{vols[0].snapshot(), vols[1].snapshot()}, e.pointImages("vm1", c.Point))
}

// A connection cut in the middle of a resynchronization's delta loses
// nothing: the replica keeps its point, the relationship requires
// resynchronization again, and the next attempt makes both sides equal.
func TestResyncCutLosesNothing(t *testing.T) {
	const size = 1 << 20
	rng := rand.New(rand.NewPCG(5, 5))
	e := newEnv(t, withChunk(4096))
	cfg, vols := groupConfig("vm1", size, 1)
	rel, err := e.primary.Enable(e.ctx, cfg)
	require.NoError(t, err)
	first, err := rel.InitialReplication(e.ctx)
	require.NoError(t, err)
	e.event()
	behind := []int64{1, 2, 3, 50, 51, 52, 53, 54, 90, 91}
	scribbleBlocks(t, vols[0], rng, behind...)

	var data atomic.Int64
	e.net.SetFaults("primary", "replica", memory.Faults{Hook: func(fi memory.FrameInfo) memory.Action {
		if fi.Len == 4096 && data.Add(1) == 3 {
			return memory.Cut
		}
		return memory.Deliver
	}})
	_, err = rel.Resynchronize(e.ctx)
	require.ErrorIs(t, err, transport.ErrConnectionLost)
	ev := e.event()
	assert.True(t, ev.Resync)
	assert.ErrorIs(t, ev.Err, transport.ErrConnectionLost)
	assert.Equal(t, replica.ResynchronizationRequired, rel.State())
	pts := e.points("vm1")
	require.Len(t, pts, 1)
	assert.Equal(t, first.Point, pts[0].ID)
	assert.Equal(t, int64(1), rel.Stats().Errors)

	e.net.SetFaults("primary", "replica", memory.Faults{})
	res, err := rel.Resynchronize(e.ctx)
	require.NoError(t, err)
	e.event()
	assert.Equal(t, int64(len(behind)), res.DifferingBlocks)
	assert.Equal(t, int64(len(behind)), res.Blocks)
	assert.Equal(t, [][]byte{vols[0].snapshot()}, e.pointImages("vm1", res.Point))
	assert.Equal(t, replica.Replicating, rel.State())
}

// Resynchronize is refused before initial replication, and after a
// rollback of the replica behind the primary's back it brings the replica
// forward from the point it is at.
func TestResyncStatesAndRolledBackReplica(t *testing.T) {
	e := newEnv(t)
	cfg, vols := groupConfig("vm1", 64<<10, 1)
	cfg.Retention = checkpoint.Retention{Additional: 5, Spacing: time.Second}
	rel, err := e.primary.Enable(e.ctx, cfg)
	require.NoError(t, err)
	_, err = rel.Resynchronize(e.ctx)
	var se *replica.StateError
	require.True(t, errors.As(err, &se), "%v", err)
	assert.Equal(t, replica.InitialReplicationPending, se.From)

	first, err := rel.InitialReplication(e.ctx)
	require.NoError(t, err)
	e.event()
	e.clk.Advance(time.Minute)
	fill(t, rel.Volume(0), 0, 8192, 1)
	_, err = rel.Cycle(e.ctx)
	require.NoError(t, err)
	e.event()
	g, err := e.store.Group(e.ctx, "vm1")
	require.NoError(t, err)
	require.NoError(t, g.Rollback(e.ctx, first.Point))

	res, err := rel.Resynchronize(context.Background())
	require.NoError(t, err)
	e.event()
	assert.Equal(t, first.Point, res.Base)
	assert.Equal(t, int64(2), res.DifferingBlocks)
	assert.Equal(t, [][]byte{vols[0].snapshot()}, e.pointImages("vm1", res.Point))
}

// With a resync window, Run resynchronizes a relationship that requires it
// by itself, but only once the window opens on the host's clock.
func TestResyncWindowOnSchedule(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 9))
	e := newEnv(t)
	cfg, vols := groupConfig("vm1", 256<<10, 1)
	cfg.ResyncWindow = &replica.ResyncWindow{Start: 2 * time.Hour, End: 4 * time.Hour}
	rel, err := e.primary.Enable(e.ctx, cfg)
	require.NoError(t, err)
	_, err = rel.InitialReplication(e.ctx)
	require.NoError(t, err)
	e.event()
	last, _, _ := rel.LastPoint()
	require.NoError(t, e.primary.Remove(e.ctx, "vm1"))
	scribbleBlocks(t, vols[0], rng, 5, 9)

	// Without persistent tracking a restarted primary must resynchronize.
	rel, err = e.primary.Reattach(e.ctx, cfg, last)
	require.NoError(t, err)
	require.Equal(t, replica.ResynchronizationRequired, rel.State())
	e.run()
	e.waitTimers(1) // the schedule waits for 02:00, 14 hours after epoch's noon
	e.clk.Advance(14*time.Hour - time.Second)
	e.waitTimers(1)
	e.noEvent()
	assert.Equal(t, replica.ResynchronizationRequired, rel.State())
	assert.Equal(t, last, e.points("vm1")[0].ID)

	e.clk.Advance(time.Second)
	ev := e.event()
	require.True(t, ev.Resync)
	require.NoError(t, ev.Err)
	assert.Equal(t, int64(2), ev.Result.Blocks)
	assert.Equal(t, epoch.Add(14*time.Hour), ev.Result.Time)
	assert.Equal(t, replica.Replicating, rel.State())
	assert.Equal(t, [][]byte{vols[0].snapshot()}, e.pointImages("vm1", ev.Result.Point))
}

func TestResyncWindowContainsAndNext(t *testing.T) {
	day := time.Date(2026, 11, 25, 0, 0, 0, 0, time.UTC)
	at := func(h, m int) time.Time { return day.Add(time.Duration(h)*time.Hour + time.Duration(m)*time.Minute) }
	cases := []struct {
		name     string
		w        replica.ResyncWindow
		t        time.Time
		contains bool
		next     time.Time
	}{
		{"inside", replica.ResyncWindow{Start: 2 * time.Hour, End: 4 * time.Hour}, at(3, 0), true, at(3, 0)},
		{"at the opening", replica.ResyncWindow{Start: 2 * time.Hour, End: 4 * time.Hour}, at(2, 0), true, at(2, 0)},
		{"at the closing", replica.ResyncWindow{Start: 2 * time.Hour, End: 4 * time.Hour}, at(4, 0), false, at(26, 0)},
		{"before it", replica.ResyncWindow{Start: 2 * time.Hour, End: 4 * time.Hour}, at(1, 0), false, at(2, 0)},
		{"across midnight, late", replica.ResyncWindow{Start: 22 * time.Hour, End: 4 * time.Hour}, at(23, 0), true, at(23, 0)},
		{"across midnight, early", replica.ResyncWindow{Start: 22 * time.Hour, End: 4 * time.Hour}, at(3, 59), true, at(3, 59)},
		{"across midnight, outside", replica.ResyncWindow{Start: 22 * time.Hour, End: 4 * time.Hour}, at(12, 0), false, at(22, 0)},
		{"whole day", replica.ResyncWindow{Start: time.Hour, End: time.Hour}, at(17, 0), true, at(17, 0)},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			require.NoError(t, c.w.Validate())
			assert.Equal(t, c.contains, c.w.Contains(c.t))
			assert.Equal(t, c.next, c.w.Next(c.t))
		})
	}
	assert.ErrorIs(t, replica.ResyncWindow{Start: 24 * time.Hour}.Validate(), replica.ErrInvalidConfig)
	assert.ErrorIs(t, replica.ResyncWindow{End: -time.Minute}.Validate(), replica.ErrInvalidConfig)
	cfg, _ := groupConfig("vm1", 4096, 1)
	cfg.ResyncWindow = &replica.ResyncWindow{Start: 25 * time.Hour}
	assert.ErrorIs(t, cfg.Validate(), replica.ErrInvalidConfig)
}

// A scheduled resynchronization that fails is retried after the back-off,
// not at once, and the retry succeeds.
func TestResyncWindowRetriesAfterBackoff(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 11))
	e := newEnv(t)
	cfg, vols := groupConfig("vm1", 128<<10, 1)
	cfg.ResyncWindow = &replica.ResyncWindow{} // the whole day
	rel, err := e.primary.Enable(e.ctx, cfg)
	require.NoError(t, err)
	_, err = rel.InitialReplication(e.ctx)
	require.NoError(t, err)
	e.event()
	last, _, _ := rel.LastPoint()
	require.NoError(t, e.primary.Remove(e.ctx, "vm1"))
	scribbleBlocks(t, vols[0], rng, 3)

	e.net.SetFaults("primary", "replica", memory.Faults{Hook: func(memory.FrameInfo) memory.Action { return memory.Cut }})
	rel, err = e.primary.Reattach(e.ctx, cfg, last)
	require.NoError(t, err)
	e.run()
	ev := e.event()
	require.True(t, ev.Resync)
	require.Error(t, ev.Err)
	e.waitTimers(1) // the back-off's first step, one minute
	e.noEvent()
	assert.Equal(t, replica.ResynchronizationRequired, rel.State())
	assert.Equal(t, int64(1), rel.Stats().Errors)

	e.net.SetFaults("primary", "replica", memory.Faults{})
	e.clk.Advance(time.Minute - time.Second)
	e.waitTimers(1)
	e.noEvent()
	e.clk.Advance(time.Second)
	ev = e.event()
	require.True(t, ev.Resync)
	require.NoError(t, ev.Err)
	assert.Equal(t, int64(1), ev.Result.Blocks)
	assert.Equal(t, epoch.Add(time.Minute), ev.Result.Time)
	assert.Equal(t, [][]byte{vols[0].snapshot()}, e.pointImages("vm1", ev.Result.Point))
}

// Resynchronize needs a replica point to compare with: a replica that
// holds the group without any point gives ErrNoReplicaPoint, one without
// the group ErrUnknownGroup; neither changes the replica.
func TestResyncWithoutReplicaPoint(t *testing.T) {
	e := newEnv(t)
	cfg, _ := groupConfig("vm1", 64<<10, 1)
	rel, err := e.primary.Enable(e.ctx, cfg)
	require.NoError(t, err)
	require.NoError(t, e.primary.Remove(e.ctx, "vm1"))
	rel, err = e.primary.Reattach(e.ctx, cfg, delta.PointID{7})
	require.NoError(t, err)
	_, err = rel.Resynchronize(e.ctx)
	assert.ErrorIs(t, err, replica.ErrNoReplicaPoint)
	e.event()
	assert.Equal(t, replica.InitialReplicationPending, rel.State(), "nothing to compare with: the initial replication is due")
	assert.Empty(t, e.points("vm1"))

	other, _ := groupConfig("vm2", 64<<10, 1)
	rel2, err := e.primary.Reattach(e.ctx, other, delta.PointID{7})
	require.NoError(t, err)
	_, err = rel2.Resynchronize(e.ctx)
	assert.ErrorIs(t, err, replica.ErrUnknownGroup)
	e.event()
	groups, err := e.store.Groups(e.ctx)
	require.NoError(t, err)
	assert.Equal(t, []string{"vm1"}, groups)
}
