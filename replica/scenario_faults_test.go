package replica_test

import (
	"context"
	"math/rand/v2"
	"sync/atomic"
	"testing"
	"time"

	"github.com/blockrep/blockrep/delta"
	"github.com/blockrep/blockrep/replica"
	"github.com/blockrep/blockrep/transport"
	"github.com/blockrep/blockrep/transport/memory"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// fill writes n bytes of a pattern derived from seed at off.
func fill(t *testing.T, v replica.Volume, off int64, n int, seed byte) {
	t.Helper()
	b := make([]byte, n)
	rng := rand.New(rand.NewPCG(uint64(seed), uint64(off)))
	for i := range b {
		b[i] = byte(rng.Uint32())
	}
	_, err := v.WriteAt(b, off)
	require.NoError(t, err)
}

// Invariant 3: a cycle cut in the middle of its delta stream loses
// nothing. The replica keeps its last point; the next cycle sends the
// blocks of the cut one together with the newer writes.
func TestCutCycleLosesNothing(t *testing.T) {
	const size = 256 << 10
	e := newEnv(t, withChunk(4096))
	cfg, vols := groupConfig("vm1", size, 1)
	rel, err := e.primary.Enable(e.ctx, cfg)
	require.NoError(t, err)
	first, err := rel.InitialReplication(e.ctx)
	require.NoError(t, err)
	e.event()

	fill(t, rel.Volume(0), 0, 64<<10, 1) // 16 blocks, several frames
	var data atomic.Int64
	e.net.SetFaults("primary", "replica", memory.Faults{Hook: func(fi memory.FrameInfo) memory.Action {
		if fi.Len == 4096 && data.Add(1) == 3 {
			return memory.Cut
		}
		return memory.Deliver
	}})
	_, err = rel.Cycle(e.ctx)
	require.Error(t, err)
	assert.ErrorIs(t, err, transport.ErrConnectionLost)
	ev := e.event()
	require.Error(t, ev.Err)
	assert.GreaterOrEqual(t, data.Load(), int64(3))

	pts := e.points("vm1")
	require.Len(t, pts, 1, "the cut cycle made no point")
	assert.Equal(t, first.Point, pts[0].ID)
	st := rel.Stats()
	assert.Equal(t, int64(1), st.Errors)
	assert.Equal(t, int64(0), st.SuccessfulCycles)
	assert.Equal(t, int64(64<<10), st.PendingBytes, "the frozen blocks are dirty again")

	e.net.SetFaults("primary", "replica", memory.Faults{})
	fill(t, rel.Volume(0), 200<<10, 5000, 9)
	res, err := rel.Cycle(e.ctx)
	require.NoError(t, err)
	e.event()
	assert.Equal(t, first.Point, res.Base)
	assert.Equal(t, int64(16+2), res.Blocks)
	assert.Equal(t, [][]byte{vols[0].snapshot()}, e.pointImages("vm1", res.Point))
	assert.Equal(t, int64(0), rel.Stats().PendingBytes)
}

// The replica commits a point but its acknowledgement is lost. The primary
// counts the cycle as failed and keeps the blocks dirty; the next cycle
// learns from the replica's status that the point was committed, builds on
// it, and the replica ends identical.
func TestLostAcknowledgement(t *testing.T) {
	const size = 128 << 10
	e := newEnv(t)
	cfg, vols := groupConfig("vm1", size, 1)
	rel, err := e.primary.Enable(e.ctx, cfg)
	require.NoError(t, err)
	_, err = rel.InitialReplication(e.ctx)
	require.NoError(t, err)
	e.event()

	fill(t, rel.Volume(0), 4096, 8192, 3)
	e.net.SetFaults("replica", "primary", memory.Faults{Hook: func(fi memory.FrameInfo) memory.Action {
		return memory.Cut // the Ack of the cycle below
	}})
	_, err = rel.Cycle(e.ctx)
	require.ErrorIs(t, err, transport.ErrConnectionLost)
	e.event()
	pts := e.points("vm1")
	require.Len(t, pts, 1)
	sent := pts[0].ID // the replica committed the cycle's point
	last, _, _ := rel.LastPoint()
	assert.NotEqual(t, sent, last)

	e.net.SetFaults("replica", "primary", memory.Faults{})
	fill(t, rel.Volume(0), 64<<10, 100, 4)
	res, err := rel.Cycle(e.ctx)
	require.NoError(t, err)
	e.event()
	assert.Equal(t, sent, res.Base, "the next delta builds on the committed point")
	assert.Equal(t, [][]byte{vols[0].snapshot()}, e.pointImages("vm1", res.Point))
	assert.Equal(t, replica.Replicating, rel.State())
}

// Invariant 9: a primary that the replica's authorization list does not
// name is refused and changes nothing; one whose authorization is revoked
// later is refused too and the replica keeps its points.
func TestUnauthorizedPrimaryIsRefused(t *testing.T) {
	e := newEnv(t, withPrimaryName("intruder"), withAuth(transport.AuthEntry{Peer: "primary", Group: "*", Storage: "."}))
	cfg, _ := groupConfig("vm1", 64<<10, 1)
	_, err := e.primary.Enable(e.ctx, cfg)
	require.Error(t, err)
	assert.ErrorIs(t, err, transport.ErrUnauthorized)
	var remote *replica.RemoteError
	require.ErrorAs(t, err, &remote)
	assert.Equal(t, replica.CodeUnauthorized, remote.Code)
	groups, err := e.store.Groups(e.ctx)
	require.NoError(t, err)
	assert.Empty(t, groups)
	assert.Empty(t, e.primary.Relationships())
}

func TestRevokedPrimaryIsRefused(t *testing.T) {
	e := newEnv(t)
	cfg, _ := groupConfig("vm1", 64<<10, 1)
	rel, err := e.primary.Enable(e.ctx, cfg)
	require.NoError(t, err)
	first, err := rel.InitialReplication(e.ctx)
	require.NoError(t, err)
	e.event()

	require.NoError(t, e.auth.Set([]transport.AuthEntry{{Peer: "other", Group: "*", Storage: "."}}))
	fill(t, rel.Volume(0), 0, 4096, 5)
	_, err = rel.Cycle(e.ctx)
	require.ErrorIs(t, err, transport.ErrUnauthorized)
	e.event()
	pts := e.points("vm1")
	require.Len(t, pts, 1)
	assert.Equal(t, first.Point, pts[0].ID)
	assert.Equal(t, int64(4096), rel.Stats().PendingBytes)
	h := rel.Health()
	assert.Equal(t, replica.Critical, h.Level)
	require.Len(t, h.Reasons, 1)
	assert.Contains(t, h.Reasons[0], "retrying will not help")
}

// Invariant 5: a delta corrupted on the way is refused by the replica with
// a typed error, changes nothing there, and the next cycle sends it all.
func TestCorruptedDeltaIsRefused(t *testing.T) {
	e := newEnv(t, withChunk(4096))
	cfg, vols := groupConfig("vm1", 256<<10, 1)
	rel, err := e.primary.Enable(e.ctx, cfg)
	require.NoError(t, err)
	first, err := rel.InitialReplication(e.ctx)
	require.NoError(t, err)
	e.event()

	fill(t, rel.Volume(0), 0, 64<<10, 6)
	var data atomic.Int64
	e.net.SetFaults("primary", "replica", memory.Faults{Hook: func(fi memory.FrameInfo) memory.Action {
		if fi.Len == 4096 && data.Add(1) == 2 {
			return memory.Corrupt
		}
		return memory.Deliver
	}})
	_, err = rel.Cycle(e.ctx)
	require.ErrorIs(t, err, delta.ErrCorrupt)
	var remote *replica.RemoteError
	require.ErrorAs(t, err, &remote)
	assert.Equal(t, replica.CodeCorrupt, remote.Code)
	e.event()
	pts := e.points("vm1")
	require.Len(t, pts, 1)
	assert.Equal(t, first.Point, pts[0].ID)
	st := rel.Stats()
	assert.Equal(t, int64(1), st.Errors)
	assert.Contains(t, st.LastError, "corrupt")
	assert.Equal(t, replica.Health{Level: replica.Normal}, rel.Health(), "damage in transit is retried, not fatal")

	e.net.SetFaults("primary", "replica", memory.Faults{})
	res, err := rel.Cycle(e.ctx)
	require.NoError(t, err)
	e.event()
	assert.Equal(t, int64(16), res.Blocks)
	assert.Equal(t, [][]byte{vols[0].snapshot()}, e.pointImages("vm1", res.Point))
}

// A replica that stops answering does not hold a cycle forever: after
// CycleTimeout on the host's clock the cycle fails, its blocks are dirty
// again, and it is retried like a lost connection.
func TestSilentReplicaTimesOut(t *testing.T) {
	e := newEnv(t, withCycleTimeout(10*time.Minute))
	cfg, vols := groupConfig("vm1", 64<<10, 1)
	rel, err := e.primary.Enable(e.ctx, cfg)
	require.NoError(t, err)
	_, err = rel.InitialReplication(e.ctx)
	require.NoError(t, err)
	e.event()
	e.waitTimers(0)

	fill(t, rel.Volume(0), 8192, 3000, 8)
	// The replica's answers are lost. The test waits for the first one
	// before the timeout fires: a cycle whose Ack was lost is in doubt,
	// and its point is the replica's latest by then (an apply still
	// running when the next cycle asks for the replica's status is another
	// story: that cycle's delta would find its base replaced).
	answered := make(chan struct{}, 1)
	e.net.SetFaults("replica", "primary", memory.Faults{Hook: func(memory.FrameInfo) memory.Action {
		select {
		case answered <- struct{}{}:
		default:
		}
		return memory.Drop
	}})
	done := make(chan error, 1)
	go func() {
		_, err := rel.Cycle(e.ctx)
		done <- err
	}()
	e.waitTimers(1)
	<-answered
	assert.Equal(t, []time.Time{epoch.Add(10 * time.Minute)}, e.clk.Deadlines())
	e.clk.Advance(10 * time.Minute)
	err = <-done
	require.ErrorIs(t, err, replica.ErrCycleTimeout)
	e.event()
	st := rel.Stats()
	assert.Equal(t, int64(1), st.Errors)
	assert.Equal(t, int64(4096), st.PendingBytes)
	assert.Equal(t, replica.Normal, rel.Health().Level, "a timeout is retried, not fatal")

	e.net.SetFaults("replica", "primary", memory.Faults{})
	res, err := rel.Cycle(e.ctx)
	require.NoError(t, err)
	e.event()
	assert.Equal(t, [][]byte{vols[0].snapshot()}, e.pointImages("vm1", res.Point))
	e.waitTimers(0)
}

// A cycle whose caller gives up (its ctx ends) restores its blocks and is
// not counted as a replication error.
func TestCancelledCycleIsNotAnError(t *testing.T) {
	e := newEnv(t)
	cfg, vols := groupConfig("vm1", 64<<10, 1)
	rel, err := e.primary.Enable(e.ctx, cfg)
	require.NoError(t, err)
	_, err = rel.InitialReplication(e.ctx)
	require.NoError(t, err)
	e.event()

	fill(t, rel.Volume(0), 0, 4096, 8)
	sent := make(chan struct{})
	var once atomic.Bool
	e.net.SetFaults("replica", "primary", memory.Faults{Hook: func(memory.FrameInfo) memory.Action {
		if once.CompareAndSwap(false, true) {
			close(sent)
		}
		return memory.Drop
	}})
	ctx, cancel := context.WithCancel(e.ctx)
	done := make(chan error, 1)
	go func() {
		_, err := rel.Cycle(ctx)
		done <- err
	}()
	<-sent // the replica answered; the answer is lost
	cancel()
	require.ErrorIs(t, <-done, context.Canceled)
	ev := e.event()
	require.ErrorIs(t, ev.Err, context.Canceled)
	st := rel.Stats()
	assert.Equal(t, int64(0), st.Errors)
	assert.Equal(t, int64(4096), st.PendingBytes)

	e.net.SetFaults("replica", "primary", memory.Faults{})
	res, err := rel.Cycle(e.ctx)
	require.NoError(t, err)
	e.event()
	assert.Equal(t, [][]byte{vols[0].snapshot()}, e.pointImages("vm1", res.Point))
}
