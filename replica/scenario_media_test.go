package replica_test

import (
	"context"
	"errors"
	"io"
	"maps"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/blockrep/blockrep/checkpoint"
	"github.com/blockrep/blockrep/delta"
	"github.com/blockrep/blockrep/replica"
	"github.com/blockrep/blockrep/transport/media"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const mediaBlock = 4096

// blockWriter writes random data at random places of a relationship's
// volumes until stopped, and records which blocks it touched since the
// last take, so that a test knows exactly what a freeze must hold. A
// quiesce hook holds its gate to snapshot the volumes and take the set.
type blockWriter struct {
	gate    sync.Mutex
	touched []map[int64]bool // per volume, guarded by gate
	stop    chan struct{}
	done    chan struct{}
	writes  int
}

func startBlockWriter(t *testing.T, rel *replica.Relationship, size int64, seed uint64) *blockWriter {
	t.Logf("block writer seed %d", seed)
	w := &blockWriter{stop: make(chan struct{}), done: make(chan struct{})}
	w.touched = make([]map[int64]bool, rel.Volumes())
	for i := range w.touched {
		w.touched[i] = map[int64]bool{}
	}
	rng := rand.New(rand.NewPCG(seed, 11))
	go func() {
		defer close(w.done)
		buf := make([]byte, 6<<10)
		for {
			select {
			case <-w.stop:
				return
			default:
			}
			vol := rng.IntN(rel.Volumes())
			n := 1 + rng.IntN(len(buf))
			off := rng.Int64N(size - int64(n))
			for i := range buf[:n] {
				buf[i] = byte(rng.Uint32()) | 1 // never zero: a written block is never all zero
			}
			w.gate.Lock()
			_, err := rel.Volume(vol).WriteAt(buf[:n], off)
			for b := off / mediaBlock; b <= (off+int64(n)-1)/mediaBlock; b++ {
				w.touched[vol][b] = true
			}
			w.writes++
			w.gate.Unlock()
			if err != nil {
				t.Errorf("write: %v", err)
				return
			}
		}
	}()
	return w
}

// takeLocked returns the number of blocks touched since the last take and
// starts a new set; gate is held.
func (w *blockWriter) takeLocked() int64 {
	var n int64
	for i, m := range w.touched {
		n += int64(len(m))
		w.touched[i] = map[int64]bool{}
	}
	return n
}

func (w *blockWriter) halt() {
	close(w.stop)
	<-w.done
}

// freezeRecord is what a quiesce hook saw at one freeze.
type freezeRecord struct {
	image   [][]byte
	touched int64 // blocks written since the previous freeze
}

// recordFreezes makes every freeze of cfg app-consistent and records the
// group's image and the blocks written since the previous freeze.
func recordFreezes(cfg *replica.GroupConfig, vols []*memVolume, w **blockWriter) func() []freezeRecord {
	var mu sync.Mutex
	var recs []freezeRecord
	cfg.AppConsistentInterval = time.Nanosecond
	cfg.Quiesce = func(context.Context) (func(), error) {
		bw := *w
		var rec freezeRecord
		if bw != nil {
			bw.gate.Lock()
			rec.touched = bw.takeLocked()
		}
		for _, v := range vols {
			rec.image = append(rec.image, v.snapshot())
		}
		mu.Lock()
		recs = append(recs, rec)
		mu.Unlock()
		return func() {
			if bw != nil {
				bw.gate.Unlock()
			}
		}, nil
	}
	return func() []freezeRecord {
		mu.Lock()
		defer mu.Unlock()
		return append([]freezeRecord(nil), recs...)
	}
}

// fillRandom fills every other run of blocks of the volumes with random
// data and leaves the rest zero.
func fillRandom(t *testing.T, vols []*memVolume, seed uint64) {
	t.Logf("fill seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 3))
	for _, v := range vols {
		for b := 0; b < len(v.data)/mediaBlock; b++ {
			if rng.IntN(3) == 0 {
				continue
			}
			for i := b * mediaBlock; i < (b+1)*mediaBlock; i++ {
				v.data[i] = byte(rng.Uint32())
			}
		}
	}
}

func nonZeroBlocks(img [][]byte) int64 {
	var n int64
	for _, v := range img {
		for b := 0; b < len(v); b += mediaBlock {
			for _, c := range v[b : b+mediaBlock] {
				if c != 0 {
					n++
					break
				}
			}
		}
	}
	return n
}

// mediaConfig is a group of two volumes whose initial replication goes
// by offline media into a fresh directory.
func mediaConfig(t *testing.T, size int64) (replica.GroupConfig, []*memVolume, string) {
	cfg, vols := groupConfig("vm1", size, 2)
	dir := filepath.Join(t.TempDir(), "usb-disk")
	cfg.Initial = replica.InitialReplication{Mode: replica.Media, MediaDir: dir, MediaPartSize: 16 << 10}
	cfg.Metadata = []byte("vm configuration")
	cfg.FailoverSettings = []byte("ip=10.0.0.9")
	return cfg, vols, dir
}

// The story of an initial replication by courier: the primary exports the
// group to a removable disk at the scheduled time while the host writes,
// and keeps asking the replica (with back-off) whether the disk has been
// imported; the host writes on during "transport"; the operator imports
// the disk on the replica; the next attempt finds the exported point and
// the first cycle sends exactly the blocks written since the export's
// freeze. Every point is the primary's image at its freeze.
func TestMediaInitialReplication(t *testing.T) {
	const size = 128 << 10
	e := newEnv(t)
	cfg, vols, dir := mediaConfig(t, size)
	fillRandom(t, vols, 501)
	cfg.Initial.At = epoch.Add(10 * time.Minute)
	cfg.Retention = checkpoint.Retention{Additional: 10, Spacing: time.Second}
	var progMu sync.Mutex
	var prog [][2]int64
	cfg.Initial.Progress = func(done, total int64) {
		progMu.Lock()
		prog = append(prog, [2]int64{done, total})
		progMu.Unlock()
	}
	var w *blockWriter
	freezes := recordFreezes(&cfg, vols, &w)
	rel, err := e.primary.Enable(e.ctx, cfg)
	require.NoError(t, err)
	w = startBlockWriter(t, rel, size, 502)
	e.run()

	// The export runs at the scheduled time and sends nothing.
	e.waitTimers(1)
	assert.Equal(t, []time.Time{cfg.Initial.At}, e.clk.Deadlines())
	e.clk.Advance(10 * time.Minute)
	ev := e.event()
	require.NoError(t, ev.Err)
	require.True(t, ev.Initial)
	require.True(t, ev.Export)
	exported := ev.Result
	assert.True(t, exported.AppConsistent)
	id, at := rel.ExportedPoint()
	assert.Equal(t, exported.Point, id)
	assert.Equal(t, exported.Time, at)
	assert.Empty(t, e.points("vm1"), "nothing reached the replica")
	man, err := media.Verify(e.ctx, dir)
	require.NoError(t, err)
	assert.Equal(t, exported.StreamBytes, man.Size)
	assert.Greater(t, man.PartCount, 2)
	progMu.Lock()
	require.NotEmpty(t, prog)
	for _, p := range prog {
		assert.LessOrEqual(t, p[0], p[1])
	}
	last := prog[len(prog)-1]
	progMu.Unlock()
	assert.Equal(t, last[0], last[1], "final progress is complete")
	assert.Equal(t, last[1], rel.Stats().InitialBytesTotal)

	// Waiting for the import: each attempt asks the replica, in vain, with
	// back-off of 1 and 2 minutes; the host writes on meanwhile.
	for i, wait := range []time.Duration{0, time.Minute, 2 * time.Minute} {
		if wait > 0 {
			e.waitTimers(1)
			e.clk.Advance(wait)
		}
		ev := e.event()
		require.ErrorIs(t, ev.Err, replica.ErrSeedMissing, "attempt %d", i)
		assert.True(t, ev.Initial)
		assert.Equal(t, replica.InitialReplicationInProgress, rel.State())
		h := rel.Health()
		assert.Equal(t, replica.Warning, h.Level)
		require.NotEmpty(t, h.Reasons)
		assert.Contains(t, h.Reasons[0], "waiting for offline import")
	}
	assert.Equal(t, int64(3), rel.Stats().Errors)

	// The disk arrives; the operator imports it, twice by mistake.
	imp, err := e.replica.Import(e.ctx, dir)
	require.NoError(t, err)
	assert.Equal(t, "vm1", imp.Group)
	assert.Equal(t, exported.Point, imp.Point.ID)
	assert.Equal(t, man.Size, imp.Bytes)
	assert.False(t, imp.Replayed)
	assert.False(t, imp.Created)
	again, err := e.replica.Import(e.ctx, dir)
	require.NoError(t, err)
	assert.True(t, again.Replayed)
	require.Len(t, e.points("vm1"), 1)
	rg, err := e.replica.Group(e.ctx, "vm1")
	require.NoError(t, err)
	assert.Equal(t, cfg.Metadata, rg.Metadata)
	assert.Equal(t, cfg.FailoverSettings, rg.FailoverSettings)

	// The next attempt finds the exported point: Replicating.
	e.waitTimers(1)
	e.clk.Advance(4 * time.Minute)
	ev = e.event()
	require.NoError(t, ev.Err)
	assert.True(t, ev.Initial)
	assert.False(t, ev.Export)
	assert.Equal(t, exported.Point, ev.Result.Point)
	assert.Equal(t, replica.Replicating, rel.State())
	assert.Equal(t, replica.Health{Level: replica.Normal}, rel.Health())
	lastID, _, _ := rel.LastPoint()
	assert.Equal(t, exported.Point, lastID)
	id, _ = rel.ExportedPoint()
	assert.True(t, id.IsZero())

	// Three cycles; the first sends what was written since the export.
	results := []replica.CycleResult{exported}
	for c := 1; c <= 3; c++ {
		e.waitTimers(1)
		e.clk.Advance(replica.Frequency5m)
		ev := e.event()
		require.NoError(t, ev.Err)
		assert.False(t, ev.Initial)
		assert.Equal(t, results[c-1].Point, ev.Result.Base)
		results = append(results, ev.Result)
	}
	w.halt()
	recs := freezes()
	require.Len(t, recs, 4)
	assert.Equal(t, nonZeroBlocks(recs[0].image), exported.Blocks, "the export holds every non-zero block")
	for c := 1; c <= 3; c++ {
		assert.Equal(t, recs[c].touched, results[c].Blocks, "cycle %d sends exactly the blocks written since the previous freeze", c)
	}
	assert.Greater(t, recs[1].touched, int64(0))
	require.Len(t, e.points("vm1"), 4)
	for i, res := range results {
		assert.Equal(t, recs[i].image, e.pointImages("vm1", res.Point), "point %d", i)
	}
}

// The operator imports the disk before the primary ever asked: the first
// attempt finds the point and replication starts; Relationship.
// InitialReplication does the check by hand too.
func TestMediaImportBeforeAnyAttempt(t *testing.T) {
	const size = 64 << 10
	e := newEnv(t)
	cfg, vols, dir := mediaConfig(t, size)
	fillRandom(t, vols, 511)
	rel, err := e.primary.Enable(e.ctx, cfg)
	require.NoError(t, err)
	res, err := rel.InitialReplication(e.ctx)
	require.NoError(t, err)
	require.True(t, e.event().Export)
	assert.Equal(t, replica.InitialReplicationInProgress, rel.State())
	image := [][]byte{vols[0].snapshot(), vols[1].snapshot()}
	_, err = rel.Volume(1).WriteAt([]byte("after the export"), 5*mediaBlock+7)
	require.NoError(t, err)
	_, err = rel.Cycle(e.ctx)
	require.ErrorIs(t, err, replica.ErrInvalidState, "no cycle before the import")

	imp, err := e.replica.Import(e.ctx, dir)
	require.NoError(t, err)
	assert.Equal(t, res.Point, imp.Point.ID)
	assert.Equal(t, image, e.pointImages("vm1", res.Point))

	got, err := rel.InitialReplication(e.ctx)
	require.NoError(t, err)
	assert.Equal(t, res.Point, got.Point)
	require.NoError(t, e.event().Err)
	assert.Equal(t, replica.Replicating, rel.State())
	_, err = rel.InitialReplication(e.ctx)
	require.ErrorIs(t, err, replica.ErrInvalidState)

	c, err := rel.Cycle(e.ctx)
	require.NoError(t, err)
	require.NoError(t, e.event().Err)
	assert.Equal(t, int64(1), c.Blocks)
	assert.Equal(t, [][]byte{vols[0].snapshot(), vols[1].snapshot()}, e.pointImages("vm1", c.Point))
}

// Damaged media is refused with transport/media's typed errors and leaves
// the store as it was; the same disk, repaired, imports afterwards.
func TestMediaImportDamaged(t *testing.T) {
	const size = 64 << 10
	cases := []struct {
		name   string
		damage func(t *testing.T, dir string) (restore func())
		want   error
		part   bool // a *media.PartError
	}{
		{"missing manifest", func(t *testing.T, dir string) func() {
			return moveAside(t, filepath.Join(dir, media.ManifestName))
		}, media.ErrIncomplete, false},
		{"missing part", func(t *testing.T, dir string) func() {
			return moveAside(t, filepath.Join(dir, media.PartName(2)))
		}, media.ErrIncomplete, true},
		{"truncated part", func(t *testing.T, dir string) func() {
			return rewrite(t, filepath.Join(dir, media.PartName(2)), func(b []byte) []byte { return b[:len(b)-100] })
		}, media.ErrCorrupt, true},
		{"flipped byte", func(t *testing.T, dir string) func() {
			return rewrite(t, filepath.Join(dir, media.PartName(3)), func(b []byte) []byte { b[len(b)/2] ^= 0x40; return b })
		}, media.ErrCorrupt, true},
		{"flipped byte in the last part", func(t *testing.T, dir string) func() {
			man, err := media.Verify(context.Background(), dir)
			require.NoError(t, err)
			return rewrite(t, filepath.Join(dir, media.PartName(man.PartCount)), func(b []byte) []byte { b[len(b)-1] ^= 1; return b })
		}, media.ErrCorrupt, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			cfg, vols, dir := mediaConfig(t, size)
			fillRandom(t, vols, 521)
			rel, err := e.primary.Enable(e.ctx, cfg)
			require.NoError(t, err)
			res, err := rel.InitialReplication(e.ctx)
			require.NoError(t, err)
			restore := tc.damage(t, dir)

			_, err = e.replica.Import(e.ctx, dir)
			require.ErrorIs(t, err, tc.want)
			var pe *media.PartError
			assert.Equal(t, tc.part, errors.As(err, &pe), "part error: %v", err)
			assert.Empty(t, e.points("vm1"), "store unchanged")

			restore()
			imp, err := e.replica.Import(e.ctx, dir)
			require.NoError(t, err)
			assert.Equal(t, res.Point, imp.Point.ID)
		})
	}
}

// A replica that lost the group (or never had it: the disk went to a new
// host) gets it back from the stream: volumes, metadata, failover
// settings and retention. A damaged stream then leaves no group behind.
func TestMediaImportCreatesGroup(t *testing.T) {
	const size = 64 << 10
	for _, damaged := range []bool{true, false} {
		e := newEnv(t)
		cfg, vols, dir := mediaConfig(t, size)
		cfg.Retention = checkpoint.Retention{Additional: 3, Spacing: 2 * time.Hour, KeepApp: true}
		fillRandom(t, vols, 531)
		rel, err := e.primary.Enable(e.ctx, cfg)
		require.NoError(t, err)
		res, err := rel.InitialReplication(e.ctx)
		require.NoError(t, err)
		require.NoError(t, e.store.RemoveGroup(e.ctx, "vm1"))
		if damaged {
			rewrite(t, filepath.Join(dir, media.PartName(2)), func(b []byte) []byte { b[0] ^= 1; return b })
			_, err := e.replica.Import(e.ctx, dir)
			require.ErrorIs(t, err, media.ErrCorrupt)
			groups, err := e.replica.Groups(e.ctx)
			require.NoError(t, err)
			assert.Empty(t, groups, "the group the import created is gone")
			continue
		}
		imp, err := e.replica.Import(e.ctx, dir)
		require.NoError(t, err)
		assert.True(t, imp.Created)
		rg, err := e.replica.Group(e.ctx, "vm1")
		require.NoError(t, err)
		assert.Equal(t, cfg.Metadata, rg.Metadata)
		assert.Equal(t, cfg.FailoverSettings, rg.FailoverSettings)
		assert.Equal(t, cfg.Retention, rg.Retention)
		assert.Equal(t, []delta.VolumeInfo{{ID: "disk0", Size: size}, {ID: "disk1", Size: size}}, rg.Volumes)
		assert.Equal(t, [][]byte{vols[0].snapshot(), vols[1].snapshot()}, e.pointImages("vm1", res.Point))
	}
}

// The primary restarts while its export waits for the import. Without
// persistent tracking it cannot know what was written meanwhile, so after
// the import the relationship requires resynchronization, which brings
// the replica to the primary's image.
func TestMediaReattachExported(t *testing.T) {
	const size = 64 << 10
	e := newEnv(t)
	cfg, vols, dir := mediaConfig(t, size)
	fillRandom(t, vols, 541)
	rel, err := e.primary.Enable(e.ctx, cfg)
	require.NoError(t, err)
	_, err = rel.InitialReplication(e.ctx)
	require.NoError(t, err)
	id, at := rel.ExportedPoint()
	require.NoError(t, e.primary.Remove(e.ctx, "vm1"))

	_, err = e.primary.ReattachExported(e.ctx, cfg, delta.PointID{}, at)
	require.ErrorIs(t, err, replica.ErrInvalidConfig)
	vols[0].WriteAt([]byte("written while the primary was down"), 3*mediaBlock)
	rel, err = e.primary.ReattachExported(e.ctx, cfg, id, at)
	require.NoError(t, err)
	assert.Equal(t, replica.InitialReplicationInProgress, rel.State())
	got, gotAt := rel.ExportedPoint()
	assert.Equal(t, id, got)
	assert.Equal(t, at, gotAt)

	_, err = rel.InitialReplication(e.ctx)
	require.ErrorIs(t, err, replica.ErrSeedMissing)
	_, err = e.replica.Import(e.ctx, dir)
	require.NoError(t, err)
	_, err = rel.InitialReplication(e.ctx)
	require.NoError(t, err)
	assert.Equal(t, replica.ResynchronizationRequired, rel.State())
	rs, err := rel.Resynchronize(e.ctx)
	require.NoError(t, err)
	assert.Equal(t, int64(1), rs.DifferingBlocks)
	assert.Equal(t, [][]byte{vols[0].snapshot(), vols[1].snapshot()}, e.pointImages("vm1", rs.Point))
}

// Media needs a directory; unknown modes and bad part sizes are refused.
func TestMediaConfigValidate(t *testing.T) {
	for _, tc := range []struct {
		name string
		init replica.InitialReplication
		ok   bool
	}{
		{"network", replica.InitialReplication{}, true},
		{"seed", replica.InitialReplication{Mode: replica.Seed}, true},
		{"media", replica.InitialReplication{Mode: replica.Media, MediaDir: "/mnt/usb/vm1"}, true},
		{"media without dir", replica.InitialReplication{Mode: replica.Media}, false},
		{"part size too small", replica.InitialReplication{Mode: replica.Media, MediaDir: "d", MediaPartSize: 100}, false},
		{"unknown mode", replica.InitialReplication{Mode: 9}, false},
	} {
		cfg, _ := groupConfig("vm1", 64<<10, 1)
		cfg.Initial = tc.init
		err := cfg.Validate()
		if tc.ok {
			assert.NoError(t, err, tc.name)
		} else {
			assert.ErrorIs(t, err, replica.ErrInvalidConfig, tc.name)
		}
	}
	assert.Equal(t, "Media", replica.Media.String())
	assert.Equal(t, "Seed", replica.Seed.String())
	assert.Equal(t, "Network", replica.Network.String())
	for _, m := range []replica.InitialMode{replica.Network, replica.Media, replica.Seed} {
		b, err := m.MarshalText()
		require.NoError(t, err)
		var back replica.InitialMode
		require.NoError(t, back.UnmarshalText(b))
		assert.Equal(t, m, back)
	}
	var m replica.InitialMode
	assert.ErrorIs(t, m.UnmarshalText([]byte("Courier")), replica.ErrInvalidConfig)
	_, err := replica.InitialMode(7).MarshalText()
	assert.ErrorIs(t, err, replica.ErrInvalidConfig)
}

func moveAside(t *testing.T, path string) func() {
	t.Helper()
	require.NoError(t, os.Rename(path, path+".aside"))
	return func() { require.NoError(t, os.Rename(path+".aside", path)) }
}

func rewrite(t *testing.T, path string, change func([]byte) []byte) func() {
	t.Helper()
	orig, err := os.ReadFile(path)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(path, change(append([]byte(nil), orig...)), 0o644))
	return func() { require.NoError(t, os.WriteFile(path, orig, 0o644)) }
}

// An export that cannot write its stream (the directory holds another
// one) fails, leaves the relationship InitialReplicationPending and keeps
// every block for the next attempt, which succeeds into a fresh directory.
func TestMediaExportFailureKeepsBlocks(t *testing.T) {
	const size = 64 << 10
	e := newEnv(t)
	cfg, vols, dir := mediaConfig(t, size)
	fillRandom(t, vols, 551)
	require.NoError(t, os.MkdirAll(dir, 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(dir, media.PartName(1)), []byte("another stream"), 0o644))
	rel, err := e.primary.Enable(e.ctx, cfg)
	require.NoError(t, err)
	_, err = rel.InitialReplication(e.ctx)
	require.ErrorIs(t, err, media.ErrExists)
	ev := e.event()
	require.ErrorIs(t, ev.Err, media.ErrExists)
	assert.False(t, ev.Export)
	assert.Equal(t, replica.InitialReplicationPending, rel.State())
	id, _ := rel.ExportedPoint()
	assert.True(t, id.IsZero())
	assert.Equal(t, int64(1), rel.Stats().Errors)

	require.NoError(t, os.Remove(filepath.Join(dir, media.PartName(1))))
	res, err := rel.InitialReplication(e.ctx)
	require.NoError(t, err)
	assert.Equal(t, nonZeroBlocks([][]byte{vols[0].snapshot(), vols[1].snapshot()}), res.Blocks)
	_, err = e.replica.Import(e.ctx, dir)
	require.NoError(t, err)
	assert.Equal(t, [][]byte{vols[0].snapshot(), vols[1].snapshot()}, e.pointImages("vm1", res.Point))
}

// A replica at another point than the exported one (the operator imported
// another group's disk, or seeded it) cannot be built on: the relationship
// requires resynchronization, which compares with that point.
func TestMediaReplicaAtAnotherPoint(t *testing.T) {
	const size = 64 << 10
	e := newEnv(t)
	cfg, vols, _ := mediaConfig(t, size)
	fillRandom(t, vols, 561)
	rel, err := e.primary.Enable(e.ctx, cfg)
	require.NoError(t, err)
	_, err = rel.InitialReplication(e.ctx)
	require.NoError(t, err)
	_, err = e.replica.Seed(e.ctx, "vm1", seedCopies(t, vols, 2, 562))
	require.NoError(t, err)
	_, err = rel.InitialReplication(e.ctx)
	require.Error(t, err)
	assert.Equal(t, replica.ResynchronizationRequired, rel.State())
	assert.Equal(t, replica.Critical, rel.Health().Level)
	rs, err := rel.Resynchronize(e.ctx)
	require.NoError(t, err)
	assert.Equal(t, int64(2), rs.DifferingBlocks)
	assert.Equal(t, [][]byte{vols[0].snapshot(), vols[1].snapshot()}, e.pointImages("vm1", rs.Point))
}

// With persistent tracking the wait for the import survives a restart of
// the primary: ReattachExported with the exported point, and after the
// import the first cycle sends exactly the blocks written since the
// export, before the restart and after it.
func TestMediaReattachExportedWithTracking(t *testing.T) {
	const size = 64 << 10
	e := newEnv(t)
	path := filepath.Join(t.TempDir(), "vm1.track")
	sf, err := delta.CreateStateFile(path)
	require.NoError(t, err)
	cfg, vols, dir := mediaConfig(t, size)
	cfg.TrackerState = sf
	fillRandom(t, vols, 571)
	rel, err := e.primary.Enable(e.ctx, cfg)
	require.NoError(t, err)
	_, err = rel.InitialReplication(e.ctx)
	require.NoError(t, err)
	_, err = rel.Volume(0).WriteAt([]byte("before the restart"), 2*mediaBlock+10)
	require.NoError(t, err)
	id, at := rel.ExportedPoint()
	require.NoError(t, e.primary.Remove(e.ctx, "vm1")) // the host stops

	sf, err = delta.OpenStateFile(path)
	require.NoError(t, err)
	cfg.TrackerState = sf
	rel, err = e.primary.ReattachExported(e.ctx, cfg, id, at)
	require.NoError(t, err)
	_, err = rel.Volume(1).WriteAt([]byte("after the restart, across two blocks"), 6*mediaBlock-5)
	require.NoError(t, err)
	_, err = e.replica.Import(e.ctx, dir)
	require.NoError(t, err)
	res, err := rel.InitialReplication(e.ctx)
	require.NoError(t, err)
	assert.Equal(t, id, res.Point)
	assert.Equal(t, replica.Replicating, rel.State())
	c, err := rel.Cycle(e.ctx)
	require.NoError(t, err)
	assert.Equal(t, id, c.Base)
	assert.Equal(t, int64(3), c.Blocks)
	assert.Equal(t, [][]byte{vols[0].snapshot(), vols[1].snapshot()}, e.pointImages("vm1", c.Point))
}

// A disk is untrusted input: labels that do not match the stream, name an
// invalid group, or carry a retention that does not parse are refused
// with delta.ErrCorrupt, and nothing changes.
func TestMediaImportRefusesForgedLabels(t *testing.T) {
	const size = 64 << 10
	e := newEnv(t)
	cfg, vols, dir := mediaConfig(t, size)
	fillRandom(t, vols, 581)
	rel, err := e.primary.Enable(e.ctx, cfg)
	require.NoError(t, err)
	res, err := rel.InitialReplication(e.ctx)
	require.NoError(t, err)
	rd, err := media.Open(dir)
	require.NoError(t, err)
	labels := rd.Manifest().Labels
	stream, err := io.ReadAll(rd)
	require.NoError(t, err)
	require.NoError(t, rd.Close())

	forge := func(change func(map[string]string)) string {
		l := maps.Clone(labels)
		change(l)
		d := filepath.Join(t.TempDir(), "forged")
		w, err := media.NewWriter(d, media.WithLabels(l))
		require.NoError(t, err)
		_, err = w.Write(stream)
		require.NoError(t, err)
		require.NoError(t, w.Close())
		return d
	}
	for _, tc := range []struct {
		name    string
		change  func(map[string]string)
		noGroup bool // the replica lost the group, so the retention labels matter
		want    error
	}{
		{"group outside the store", func(l map[string]string) { l["blockrep.group"] = "../etc" }, false, checkpoint.ErrInvalidGroupID},
		{"no group", func(l map[string]string) { delete(l, "blockrep.group") }, false, checkpoint.ErrInvalidGroupID},
		{"another group", func(l map[string]string) { l["blockrep.group"] = "vm2" }, false, delta.ErrCorrupt},
		{"another point", func(l map[string]string) { l["blockrep.point"] = delta.PointID{1}.String() }, false, delta.ErrCorrupt},
		{"retention count", func(l map[string]string) { l["blockrep.retention.additional"] = "-4" }, true, delta.ErrCorrupt},
		{"retention spacing", func(l map[string]string) { l["blockrep.retention.spacing"] = "soon" }, true, delta.ErrCorrupt},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.noGroup {
				require.NoError(t, e.store.RemoveGroup(e.ctx, "vm1"))
				defer func() {
					_, err := e.store.CreateGroup(e.ctx, "vm1", checkpoint.GroupSpec{
						Volumes: []delta.VolumeInfo{{ID: "disk0", Size: size}, {ID: "disk1", Size: size}}, BlockSize: mediaBlock})
					require.NoError(t, err)
				}()
			}
			_, err := e.replica.Import(e.ctx, forge(tc.change))
			require.ErrorIs(t, err, delta.ErrCorrupt)
			require.ErrorIs(t, err, tc.want)
			groups, err := e.replica.Groups(e.ctx)
			require.NoError(t, err)
			if tc.noGroup {
				assert.Empty(t, groups)
			} else {
				assert.Equal(t, []string{"vm1"}, groups)
				assert.Empty(t, e.points("vm1"))
			}
		})
	}
	// The untouched labels import.
	imp, err := e.replica.Import(e.ctx, forge(func(map[string]string) {}))
	require.NoError(t, err)
	assert.Equal(t, res.Point, imp.Point.ID)
}
