package replica_test

import (
	"context"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/blockrep/blockrep/checkpoint"
	"github.com/blockrep/blockrep/delta"
	"github.com/blockrep/blockrep/replica"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// writer writes random data at random places of a relationship's volumes
// until stopped. Its gate lets a quiesce hook hold it between writes.
type writer struct {
	gate   sync.Mutex
	stop   chan struct{}
	done   chan struct{}
	writes int
}

func startWriter(t *testing.T, rel *replica.Relationship, size int64, seed uint64) *writer {
	t.Logf("writer seed %d", seed)
	w := &writer{stop: make(chan struct{}), done: make(chan struct{})}
	rng := rand.New(rand.NewPCG(seed, 7))
	go func() {
		defer close(w.done)
		buf := make([]byte, 12<<10)
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
				buf[i] = byte(rng.Uint32())
			}
			w.gate.Lock()
			_, err := rel.Volume(vol).WriteAt(buf[:n], off)
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

func (w *writer) halt() {
	close(w.stop)
	<-w.done
}

// The story of invariant 1: a host writes all the time while the schedule
// runs cycles on the clock; every recovery point equals the group as it
// was at that cycle's freeze, byte for byte, though writes went on while
// the point was captured and sent.
func TestEveryPointIsTheImageAtItsFreeze(t *testing.T) {
	const size = 192 << 10
	e := newEnv(t)
	cfg, vols := groupConfig("vm1", size, 2)

	var mu sync.Mutex
	var snaps [][][]byte // the group's image at each freeze, in order
	var w *writer
	cfg.Retention = checkpoint.Retention{Additional: 10, Spacing: time.Second}
	cfg.AppConsistentInterval = time.Nanosecond // every freeze quiesces
	cfg.Quiesce = func(ctx context.Context) (func(), error) {
		if w != nil {
			w.gate.Lock()
		}
		img := make([][]byte, len(vols))
		for i, v := range vols {
			img[i] = v.snapshot()
		}
		mu.Lock()
		snaps = append(snaps, img)
		mu.Unlock()
		return func() {
			if w != nil {
				w.gate.Unlock()
			}
		}, nil
	}
	rel, err := e.primary.Enable(e.ctx, cfg)
	require.NoError(t, err)
	w = startWriter(t, rel, size, 1001)
	e.run()

	ev := e.event() // initial replication starts as soon as Run runs
	require.NoError(t, ev.Err)
	require.True(t, ev.Initial)
	assert.True(t, ev.Result.AppConsistent)

	const cycles = 6
	results := []replica.CycleResult{ev.Result}
	for c := 1; c <= cycles; c++ {
		e.waitTimers(1)
		assert.Equal(t, []time.Time{epoch.Add(time.Duration(c) * replica.Frequency5m)}, e.clk.Deadlines())
		e.clk.Advance(replica.Frequency5m)
		ev := e.event()
		require.NoError(t, ev.Err)
		assert.False(t, ev.Initial)
		assert.Equal(t, results[c-1].Point, ev.Result.Base)
		results = append(results, ev.Result)
	}
	w.halt()
	require.Greater(t, w.writes, 0)

	mu.Lock()
	require.Len(t, snaps, cycles+1)
	mu.Unlock()
	// Retention keeps every point here, so each can be read back.
	require.Len(t, e.points("vm1"), cycles+1)
	for i, res := range results {
		assert.Equal(t, snaps[i], e.pointImages("vm1", res.Point), "point %d", i)
		var lists []*delta.HashList
		for _, img := range snaps[i] {
			hl, err := delta.HashVolume(context.Background(), bytesReaderAt(img), delta.Geometry{Size: size, BlockSize: 4096})
			require.NoError(t, err)
			lists = append(lists, hl)
		}
		assert.Equal(t, delta.GroupRoot(lists), res.Hash, "content hash of point %d", i)
	}

	st := rel.Stats()
	assert.Equal(t, int64(cycles), st.SuccessfulCycles)
	assert.Equal(t, int64(0), st.MissedCycles)
	assert.Equal(t, int64(0), st.Errors)
	assert.Equal(t, epoch.Add(cycles*replica.Frequency5m), st.LastReplication)
	assert.Equal(t, replica.Health{Level: replica.Normal}, rel.Health())
}

type bytesReaderAt []byte

func (b bytesReaderAt) ReadAt(p []byte, off int64) (int, error) {
	return copy(p, b[off:]), nil
}
