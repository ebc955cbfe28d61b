package replica_test

import (
	"bytes"
	"io"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/blockrep/blockrep/checkpoint"
	"github.com/blockrep/blockrep/replica"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// seedCopies returns copies of vols with k distinct blocks changed at
// random (seeded), as a copy restored from last week's backup would be.
func seedCopies(t *testing.T, vols []*memVolume, k int, seed uint64) []io.ReaderAt {
	t.Logf("seed copy seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 5))
	copies := make([][]byte, len(vols))
	for i, v := range vols {
		copies[i] = v.snapshot()
	}
	blocks := len(copies[0]) / mediaBlock
	changed := map[[2]int]bool{}
	for len(changed) < k {
		at := [2]int{rng.IntN(len(vols)), rng.IntN(blocks)}
		if changed[at] {
			continue
		}
		changed[at] = true
		b := copies[at[0]][at[1]*mediaBlock:]
		b[rng.IntN(mediaBlock)] ^= byte(1 + rng.IntN(255))
	}
	out := make([]io.ReaderAt, len(copies))
	for i, c := range copies {
		out[i] = bytes.NewReader(c)
	}
	return out
}

func seedConfig(size int64) (replica.GroupConfig, []*memVolume) {
	cfg, vols := groupConfig("vm1", size, 2)
	cfg.Initial.Mode = replica.Seed
	return cfg, vols
}

// The story of a seeded initial replication: the replica holds a copy of
// the group that differs from the primary's in k blocks; the initial
// replication compares hashes and sends exactly those k blocks, with hash
// traffic under 1% of the volumes, and the replica ends identical.
func TestSeedInitialReplication(t *testing.T) {
	const size, k = 2 << 20, 12
	e := newEnv(t)
	cfg, vols := seedConfig(size)
	fillRandom(t, vols, 601)
	var mu sync.Mutex
	var prog [][2]int64
	cfg.Initial.Progress = func(done, total int64) {
		mu.Lock()
		prog = append(prog, [2]int64{done, total})
		mu.Unlock()
	}
	rel, err := e.primary.Enable(e.ctx, cfg)
	require.NoError(t, err)

	seedPoint, err := e.replica.Seed(e.ctx, "vm1", seedCopies(t, vols, k, 602))
	require.NoError(t, err)
	g, err := e.store.Group(e.ctx, "vm1")
	require.NoError(t, err)
	pins, err := g.Pins(e.ctx)
	require.NoError(t, err)
	require.Len(t, pins, 1)
	assert.Equal(t, checkpoint.Pin{Point: seedPoint.ID, Holder: replica.SeedPinHolder, Since: epoch}, pins[0])

	res, err := rel.InitialReplication(e.ctx)
	require.NoError(t, err)
	ev := e.event()
	require.NoError(t, ev.Err)
	assert.True(t, ev.Initial)
	assert.Equal(t, replica.Replicating, rel.State())
	assert.Equal(t, seedPoint.ID, res.Base)
	assert.Equal(t, int64(k), res.Blocks, "exactly the differing blocks are sent")
	rs := rel.LastResync()
	assert.Equal(t, int64(k), rs.DifferingBlocks)
	assert.Equal(t, res.Point, rs.Point)
	t.Logf("hash traffic %d bytes in %d rounds, delta %d bytes", rs.HashBytes, rs.HashRounds, rs.StreamBytes)
	assert.Less(t, rs.HashBytes, int64(2*size/100), "hash traffic under 1%% of the volumes")
	assert.Equal(t, [][]byte{vols[0].snapshot(), vols[1].snapshot()}, e.pointImages("vm1", res.Point))
	pins, err = g.Pins(e.ctx)
	require.NoError(t, err)
	assert.Empty(t, pins, "the seed mark is released once a delta built on it")

	mu.Lock()
	require.NotEmpty(t, prog)
	for i, p := range prog {
		assert.LessOrEqual(t, p[0], p[1], "progress %d", i)
		if i > 0 {
			assert.GreaterOrEqual(t, p[0], prog[i-1][0], "progress %d goes forward", i)
		}
	}
	last := prog[len(prog)-1]
	mu.Unlock()
	assert.Equal(t, last[0], last[1], "final progress is complete")
	assert.Equal(t, int64(2*size+k*mediaBlock), last[1], "hashed bytes plus sent bytes")

	// Cycles follow as usual.
	_, err = rel.Volume(0).WriteAt([]byte("after the seed"), 100*mediaBlock)
	require.NoError(t, err)
	c, err := rel.Cycle(e.ctx)
	require.NoError(t, err)
	require.NoError(t, e.event().Err)
	assert.Equal(t, int64(1), c.Blocks)
	assert.Equal(t, [][]byte{vols[0].snapshot(), vols[1].snapshot()}, e.pointImages("vm1", c.Point))
}

// Run starts a seeded initial replication at its scheduled time; while the
// replica holds no seed it fails with ErrSeedMissing, health says so, and
// Run retries with back-off until the operator has seeded the replica.
func TestSeedMissingIsRetried(t *testing.T) {
	const size = 256 << 10
	e := newEnv(t)
	cfg, vols := seedConfig(size)
	fillRandom(t, vols, 611)
	cfg.Initial.At = epoch.Add(time.Hour)
	rel, err := e.primary.Enable(e.ctx, cfg)
	require.NoError(t, err)
	e.run()

	e.waitTimers(1)
	assert.Equal(t, []time.Time{cfg.Initial.At}, e.clk.Deadlines())
	e.clk.Advance(time.Hour)
	ev := e.event()
	require.ErrorIs(t, ev.Err, replica.ErrSeedMissing)
	assert.True(t, ev.Initial)
	assert.Equal(t, replica.InitialReplicationPending, rel.State())
	h := rel.Health()
	assert.Equal(t, replica.Warning, h.Level)
	require.NotEmpty(t, h.Reasons)
	assert.Contains(t, h.Reasons[0], "waiting for the seed copy")

	e.waitTimers(1)
	assert.Equal(t, []time.Time{cfg.Initial.At.Add(time.Minute)}, e.clk.Deadlines())
	_, err = e.replica.Seed(e.ctx, "vm1", seedCopies(t, vols, 3, 612))
	require.NoError(t, err)
	e.clk.Advance(time.Minute)
	ev = e.event()
	require.NoError(t, ev.Err)
	assert.Equal(t, int64(3), ev.Result.Blocks)
	assert.Equal(t, replica.Replicating, rel.State())
	assert.Equal(t, replica.Health{Level: replica.Normal}, rel.Health())
	assert.Equal(t, [][]byte{vols[0].snapshot(), vols[1].snapshot()}, e.pointImages("vm1", ev.Result.Point))
	assert.Equal(t, int64(1), rel.Stats().Errors)
}

// Seed refuses copies that do not fit the group, groups it does not have
// and groups that hold a point, and changes nothing.
func TestSeedRefused(t *testing.T) {
	const size = 64 << 10
	e := newEnv(t)
	cfg, vols := seedConfig(size)
	fillRandom(t, vols, 621)
	_, err := e.primary.Enable(e.ctx, cfg)
	require.NoError(t, err)
	good := func() io.ReaderAt { return bytes.NewReader(vols[0].snapshot()) }
	short := newMemVolume(size - mediaBlock)
	long := newMemVolume(size + 1)

	for _, tc := range []struct {
		name string
		vols []io.ReaderAt
		want int64 // SeedVolumeError.Got
	}{
		{"one copy for two volumes", []io.ReaderAt{good()}, 1},
		{"three copies", []io.ReaderAt{good(), good(), good()}, 3},
		{"copy too small", []io.ReaderAt{good(), bytes.NewReader(make([]byte, size-1))}, size - 1},
		{"copy too large", []io.ReaderAt{bytes.NewReader(make([]byte, size+mediaBlock)), good()}, size + mediaBlock},
		{"probed shorter", []io.ReaderAt{good(), short}, -1},
		{"probed longer", []io.ReaderAt{long, good()}, -1},
		{"nil copy", []io.ReaderAt{good(), nil}, -1},
	} {
		_, err := e.replica.Seed(e.ctx, "vm1", tc.vols)
		require.ErrorIs(t, err, replica.ErrSeedMismatch, tc.name)
		var ve *replica.SeedVolumeError
		require.ErrorAs(t, err, &ve, tc.name)
		assert.Equal(t, tc.want, ve.Got, tc.name)
		assert.Empty(t, e.points("vm1"), tc.name)
	}

	_, err = e.replica.Seed(e.ctx, "vm2", []io.ReaderAt{good()})
	require.ErrorIs(t, err, replica.ErrUnknownGroup)
	_, err = e.replica.Seed(e.ctx, "../etc", []io.ReaderAt{good()})
	require.ErrorIs(t, err, checkpoint.ErrInvalidGroupID)

	copies := []io.ReaderAt{bytes.NewReader(vols[0].snapshot()), vols[1]}
	p, err := e.replica.Seed(e.ctx, "vm1", copies)
	require.NoError(t, err)
	_, err = e.replica.Seed(e.ctx, "vm1", copies)
	require.ErrorIs(t, err, replica.ErrGroupNotEmpty)
	pts := e.points("vm1")
	require.Len(t, pts, 1)
	assert.Equal(t, p.ID, pts[0].ID)
	assert.Equal(t, [][]byte{vols[0].snapshot(), vols[1].snapshot()}, e.pointImages("vm1", p.ID))
}
