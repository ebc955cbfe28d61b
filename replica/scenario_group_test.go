package replica_test

import (
	"encoding/binary"
	"errors"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/blockrep/blockrep/checkpoint"
	"github.com/blockrep/blockrep/delta"
	"github.com/blockrep/blockrep/replica"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// A consistency group of three volumes, crash-consistent: a writer stamps
// an increasing sequence number on volume 0, then 1, then 2, each write
// done before the next starts (as a database writes its log, then its
// data). Every point must show the three volumes at one instant: the
// stamps never increase from volume 0 to 2 and differ by at most one.
func TestConsistencyGroupOfThreeVolumes(t *testing.T) {
	const size = 128 << 10
	e := newEnv(t)
	cfg, vols := groupConfig("db", size, 3)
	cfg.Retention = checkpoint.Retention{Additional: 20, Spacing: time.Second}
	rel, err := e.primary.Enable(e.ctx, cfg)
	require.NoError(t, err)
	_, err = rel.InitialReplication(e.ctx)
	require.NoError(t, err)
	e.event()

	seed := uint64(77)
	t.Logf("seed %d", seed)
	stop, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		rng := rand.New(rand.NewPCG(seed, 1))
		stamp := make([]byte, 8)
		filler := make([]byte, 4096)
		for seq := uint64(1); ; seq++ {
			select {
			case <-stop:
				return
			default:
			}
			binary.BigEndian.PutUint64(stamp, seq)
			for v := range 3 {
				if _, err := rel.Volume(v).WriteAt(stamp, 0); err != nil {
					t.Errorf("stamp: %v", err)
					return
				}
			}
			for i := range filler {
				filler[i] = byte(rng.Uint32())
			}
			off := 4096 + rng.Int64N(size/4096-1)*4096
			if _, err := rel.Volume(rng.IntN(3)).WriteAt(filler, off); err != nil {
				t.Errorf("filler: %v", err)
				return
			}
		}
	}()
	var points []delta.PointID
	for range 10 {
		e.clk.Advance(time.Minute)
		res, err := rel.Cycle(e.ctx)
		require.NoError(t, err)
		require.NoError(t, e.event().Err)
		points = append(points, res.Point)
	}
	close(stop)
	<-done
	for i, id := range points {
		img := e.pointImages("db", id)
		s0, s1, s2 := binary.BigEndian.Uint64(img[0]), binary.BigEndian.Uint64(img[1]), binary.BigEndian.Uint64(img[2])
		assert.True(t, s0 >= s1 && s1 >= s2 && s0-s2 <= 1, "point %d: stamps %d %d %d are not one instant", i, s0, s1, s2)
	}
	res, err := rel.Cycle(e.ctx)
	require.NoError(t, err)
	e.event()
	want := [][]byte{vols[0].snapshot(), vols[1].snapshot(), vols[2].snapshot()}
	assert.Equal(t, want, e.pointImages("db", res.Point))
}

// An excluded volume is written directly and never reaches the replica.
func TestExcludedVolume(t *testing.T) {
	e := newEnv(t)
	cfg, vols := groupConfig("vm1", 64<<10, 2)
	cfg.Volumes[1].Excluded = true // a page file
	rel, err := e.primary.Enable(e.ctx, cfg)
	require.NoError(t, err)
	_, err = rel.InitialReplication(e.ctx)
	require.NoError(t, err)
	e.event()
	fill(t, rel.Volume(0), 0, 4096, 1)
	fill(t, rel.Volume(1), 0, 4096, 2)
	assert.Equal(t, replica.Volume(vols[1]), rel.Volume(1))
	assert.Nil(t, rel.Volume(2))
	res, err := rel.Cycle(e.ctx)
	require.NoError(t, err)
	e.event()
	assert.Equal(t, [][]byte{vols[0].snapshot()}, e.pointImages("vm1", res.Point))
	g, err := e.replica.Group(e.ctx, "vm1")
	require.NoError(t, err)
	assert.Equal(t, []delta.VolumeInfo{{ID: "disk0", Size: 64 << 10}}, g.Volumes)
}

// The replica keeps the group's metadata and failover settings; enabling
// the same group twice is refused on both sides.
func TestEnableKeepsMetadataAndRefusesDuplicates(t *testing.T) {
	e := newEnv(t)
	cfg, _ := groupConfig("vm1", 64<<10, 1)
	cfg.Metadata = []byte(`{"cpus":4}`)
	cfg.FailoverSettings = []byte("ip=10.1.0.9")
	cfg.Retention = checkpoint.Retention{Additional: 4}
	rel, err := e.primary.Enable(e.ctx, cfg)
	require.NoError(t, err)
	g, err := e.replica.Group(e.ctx, "vm1")
	require.NoError(t, err)
	assert.Equal(t, cfg.Metadata, g.Metadata)
	assert.Equal(t, cfg.FailoverSettings, g.FailoverSettings)
	assert.Equal(t, replica.Replicating, g.State)
	assert.Equal(t, 4, g.Retention.Additional)
	assert.Empty(t, g.Points)
	assert.Equal(t, epoch, g.LastContact)

	_, err = e.primary.Enable(e.ctx, cfg)
	assert.ErrorIs(t, err, replica.ErrGroupExists)

	_, err = rel.InitialReplication(e.ctx)
	require.NoError(t, err)
	e.event()
	require.NoError(t, e.primary.Remove(e.ctx, "vm1"))
	_, err = rel.Cycle(e.ctx)
	assert.ErrorIs(t, err, replica.ErrClosed)
	assert.ErrorIs(t, e.primary.Remove(e.ctx, "vm1"), replica.ErrUnknownGroup)
	// The replica keeps the group and its point; a new Enable is refused.
	_, err = e.primary.Enable(e.ctx, cfg)
	var remote *replica.RemoteError
	require.ErrorAs(t, err, &remote)
	assert.Equal(t, replica.CodeGroupExists, remote.Code)
	assert.ErrorIs(t, err, replica.ErrGroupExists)
	assert.Len(t, e.points("vm1"), 1)
}

func TestEnableValidates(t *testing.T) {
	e := newEnv(t)
	base, _ := groupConfig("vm1", 64<<10, 1)
	cases := map[string]func(c *replica.GroupConfig){
		"bad id":            func(c *replica.GroupConfig) { c.ID = "../etc" },
		"no volume":         func(c *replica.GroupConfig) { c.Volumes = nil },
		"all excluded":      func(c *replica.GroupConfig) { c.Volumes[0].Excluded = true },
		"nil volume":        func(c *replica.GroupConfig) { c.Volumes[0].Volume = nil },
		"slash in name":     func(c *replica.GroupConfig) { c.Volumes[0].Name = "a/b" },
		"frequency too low": func(c *replica.GroupConfig) { c.Frequency = 10e9 },
		"odd block size":    func(c *replica.GroupConfig) { c.BlockSize = 5000 },
		"no replica":        func(c *replica.GroupConfig) { c.Replica = "" },
		"app without hook":  func(c *replica.GroupConfig) { c.AppConsistentInterval = 3600e9 },
		"huge failover":     func(c *replica.GroupConfig) { c.FailoverSettings = make([]byte, replica.MaxFailoverSettings+1) },
		"negative retained": func(c *replica.GroupConfig) { c.Retention.Additional = -1 },
	}
	for name, mutate := range cases {
		t.Run(name, func(t *testing.T) {
			c := base
			c.Volumes = append([]replica.VolumeConfig(nil), base.Volumes...)
			mutate(&c)
			_, err := e.primary.Enable(e.ctx, c)
			assert.ErrorIs(t, err, replica.ErrInvalidConfig)
		})
	}
	groups, err := e.store.Groups(e.ctx)
	require.NoError(t, err)
	assert.Empty(t, groups)
}

// After a restart of the primary host, a relationship whose tracking state
// survived picks up where it stopped: the next cycle sends exactly what was
// written before the restart. When the state is lost, the relationship
// says resynchronization is required, health is Critical, and no cycle
// runs.
func TestReattachAfterRestart(t *testing.T) {
	e := newEnv(t)
	path := filepath.Join(t.TempDir(), "vm1.track")
	sf, err := delta.CreateStateFile(path)
	require.NoError(t, err)
	cfg, vols := groupConfig("vm1", 64<<10, 1)
	cfg.TrackerState = sf
	rel, err := e.primary.Enable(e.ctx, cfg)
	require.NoError(t, err)
	_, err = rel.InitialReplication(e.ctx)
	require.NoError(t, err)
	e.event()
	fill(t, rel.Volume(0), 12288, 100, 3)
	last, _, _ := rel.LastPoint()
	require.NoError(t, e.primary.Remove(e.ctx, "vm1")) // the host stops

	sf, err = delta.OpenStateFile(path)
	require.NoError(t, err)
	cfg.TrackerState = sf
	rel, err = e.primary.Reattach(e.ctx, cfg, last)
	require.NoError(t, err)
	assert.Equal(t, replica.Replicating, rel.State())
	res, err := rel.Cycle(e.ctx)
	require.NoError(t, err)
	e.event()
	assert.Equal(t, last, res.Base)
	assert.Equal(t, int64(1), res.Blocks)
	assert.Equal(t, [][]byte{vols[0].snapshot()}, e.pointImages("vm1", res.Point))
	last = res.Point
	require.NoError(t, e.primary.Remove(e.ctx, "vm1"))

	// The state file is damaged while the host is down.
	require.NoError(t, os.WriteFile(path, []byte("garbage"), 0o644))
	sf, err = delta.OpenStateFile(path)
	require.NoError(t, err)
	cfg.TrackerState = sf
	rel, err = e.primary.Reattach(e.ctx, cfg, last)
	require.NoError(t, err)
	assert.Equal(t, replica.ResynchronizationRequired, rel.State())
	h := rel.Health()
	assert.Equal(t, replica.Critical, h.Level)
	assert.Equal(t, []string{"resynchronization required: which blocks differ between primary and replica is not known"}, h.Reasons)
	_, err = rel.Cycle(e.ctx)
	var se *replica.StateError
	require.True(t, errors.As(err, &se))
	assert.Equal(t, replica.ResynchronizationRequired, se.From)
	assert.Equal(t, last, e.points("vm1")[0].ID, "nothing was sent")
}

// Someone rolls the replica back to an older point behind the primary's
// back. The next delta is refused (its base is gone); the cycle after it
// finds the replica at a point this primary did not expect and the
// relationship requires resynchronization; no cycle runs in that state.
func TestReplicaRolledBackRequiresResync(t *testing.T) {
	e := newEnv(t)
	cfg, _ := groupConfig("vm1", 64<<10, 1)
	cfg.Retention = checkpoint.Retention{Additional: 5, Spacing: time.Second}
	rel, err := e.primary.Enable(e.ctx, cfg)
	require.NoError(t, err)
	first, err := rel.InitialReplication(e.ctx)
	require.NoError(t, err)
	e.event()
	e.clk.Advance(time.Minute)
	fill(t, rel.Volume(0), 0, 4096, 1)
	_, err = rel.Cycle(e.ctx)
	require.NoError(t, err)
	e.event()

	g, err := e.store.Group(e.ctx, "vm1")
	require.NoError(t, err)
	require.NoError(t, g.Rollback(e.ctx, first.Point))

	fill(t, rel.Volume(0), 8192, 4096, 2)
	_, err = rel.Cycle(e.ctx)
	require.ErrorIs(t, err, checkpoint.ErrBaseMismatch)
	e.event()
	assert.Equal(t, replica.Replicating, rel.State())
	assert.Equal(t, replica.Critical, rel.Health().Level)

	_, err = rel.Cycle(e.ctx)
	require.Error(t, err)
	e.event()
	assert.Equal(t, replica.ResynchronizationRequired, rel.State())
	h := rel.Health()
	assert.Equal(t, replica.Critical, h.Level)
	assert.Equal(t, "resynchronization required: which blocks differ between primary and replica is not known", h.Reasons[0])
	_, err = rel.Cycle(e.ctx)
	assert.ErrorIs(t, err, replica.ErrInvalidState)
	require.Len(t, e.points("vm1"), 1, "the replica is left as it was")
}
