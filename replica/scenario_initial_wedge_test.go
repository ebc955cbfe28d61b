package replica_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/blockrep/blockrep/delta"
	"github.com/blockrep/blockrep/replica"
	"github.com/blockrep/blockrep/transport"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// fakeLatestTransport dials connections whose next Status answers (as
// many as the test arms) name a point the replica does not hold.
type fakeLatestTransport struct {
	transport.Transport
	fake  delta.PointID
	left  atomic.Int32 // Status answers still to rewrite
	faked atomic.Int32 // Status answers rewritten
}

func (t *fakeLatestTransport) Dial(ctx context.Context, addr string) (transport.Conn, error) {
	c, err := t.Transport.Dial(ctx, addr)
	if err != nil {
		return nil, err
	}
	return &fakeLatestConn{Conn: c, t: t}, nil
}

type fakeLatestConn struct {
	transport.Conn
	t *fakeLatestTransport
}

func (c *fakeLatestConn) Recv(ctx context.Context, buf []byte) ([]byte, error) {
	b, err := c.Conn.Recv(ctx, buf)
	if err != nil || c.t.left.Load() <= 0 {
		return b, err
	}
	if out, ok := replica.StatusWithLatestForTest(b, c.t.fake); ok {
		c.t.left.Add(-1)
		c.t.faked.Add(1)
		return out, nil
	}
	return b, nil
}

// TestInitialUnknownReplicaPointRegression: a Status naming a point the
// primary never sent (a damaged answer) fails an initial replication with
// ErrReplicaNotEmpty and leaves the relationship InitialReplicationPending,
// not ResynchronizationRequired — which had nothing to resynchronize
// against and refused the initial replication: the group was wedged. The
// next attempt sends the full copy.
func TestInitialUnknownReplicaPointRegression(t *testing.T) {
	ft := &fakeLatestTransport{fake: delta.PointID{5: 0x20, 15: 1}}
	e := newEnv(t, withPrimaryTransport(func(tr transport.Transport) transport.Transport {
		ft.Transport = tr
		return ft
	}), withMaxIdle(time.Minute))
	cfg, vols := groupConfig("vm1", 128<<10, 1)
	_, err := vols[0].WriteAt([]byte("content before the initial replication"), 3*4096+17)
	require.NoError(t, err)
	rel, err := e.primary.Enable(e.ctx, cfg)
	require.NoError(t, err)

	e.clk.Advance(2 * time.Minute) // Enable's connection is idle: the initial replication dials anew
	ft.left.Store(1)
	_, err = rel.InitialReplication(e.ctx)
	require.ErrorIs(t, err, replica.ErrReplicaNotEmpty)
	assert.True(t, replica.IsFatalForTest(err), "retrying alone cannot help when the replica really holds such points")
	assert.Equal(t, int32(1), ft.faked.Load())
	ev := e.event()
	assert.True(t, ev.Initial)
	assert.ErrorIs(t, ev.Err, replica.ErrReplicaNotEmpty)
	assert.Equal(t, replica.InitialReplicationPending, rel.State())
	assert.Empty(t, e.points("vm1"), "nothing reached the replica")

	res, err := rel.InitialReplication(e.ctx)
	require.NoError(t, err)
	require.NoError(t, e.event().Err)
	assert.Equal(t, replica.Replicating, rel.State())
	assert.True(t, res.Base.IsZero())
	assert.Equal(t, [][]byte{vols[0].snapshot()}, e.pointImages("vm1", res.Point))
}

// TestResyncWithoutReplicaPointFallsBackRegression: a relationship that is
// ResynchronizationRequired while the replica holds no point of the group
// (reattached without tracking state before anything was replicated) goes
// back to InitialReplicationPending when Resynchronize finds no point,
// instead of staying ResynchronizationRequired for good; the initial
// replication then sends the full copy although the relationship still
// remembers a last point.
func TestResyncWithoutReplicaPointFallsBackRegression(t *testing.T) {
	e := newEnv(t)
	cfg, vols := groupConfig("vm1", 128<<10, 1)
	_, err := vols[0].WriteAt([]byte("content the replica never got"), 9*4096+5)
	require.NoError(t, err)
	_, err = e.primary.Enable(e.ctx, cfg)
	require.NoError(t, err)
	require.NoError(t, e.primary.Remove(e.ctx, "vm1"))
	last := delta.PointID{0: 0xab, 15: 2}
	rel, err := e.primary.Reattach(e.ctx, cfg, last)
	require.NoError(t, err)
	require.Equal(t, replica.ResynchronizationRequired, rel.State())

	_, err = rel.Resynchronize(e.ctx)
	require.ErrorIs(t, err, replica.ErrNoReplicaPoint)
	ev := e.event()
	assert.True(t, ev.Resync)
	assert.ErrorIs(t, ev.Err, replica.ErrNoReplicaPoint)
	assert.Equal(t, replica.InitialReplicationPending, rel.State())
	assert.Empty(t, e.points("vm1"))

	res, err := rel.InitialReplication(e.ctx)
	require.NoError(t, err)
	require.NoError(t, e.event().Err)
	assert.Equal(t, replica.Replicating, rel.State())
	lastID, _, _ := rel.LastPoint()
	assert.Equal(t, res.Point, lastID)
	assert.True(t, res.Base.IsZero(), "a full copy from no base")
	assert.Equal(t, [][]byte{vols[0].snapshot()}, e.pointImages("vm1", res.Point))
}

// TestResyncBeforeInitialRefusedRegression: Resynchronize of a relationship
// suspended before its initial replication is refused with a *StateError
// and changes nothing (it used to move it to ResynchronizationRequired,
// where Resynchronize found no point and InitialReplication was refused:
// wedged). Resume and InitialReplication then work.
func TestResyncBeforeInitialRefusedRegression(t *testing.T) {
	e := newEnv(t)
	cfg, vols := groupConfig("vm1", 128<<10, 1)
	_, err := vols[0].WriteAt([]byte("written before the suspension"), 4096+1)
	require.NoError(t, err)
	rel, err := e.primary.Enable(e.ctx, cfg)
	require.NoError(t, err)
	require.NoError(t, rel.Suspend(e.ctx))

	_, err = rel.Resynchronize(e.ctx)
	var se *replica.StateError
	require.ErrorAs(t, err, &se)
	assert.Equal(t, replica.Suspended, se.From)
	assert.Equal(t, replica.Resynchronizing, se.To)
	assert.False(t, errors.Is(err, replica.ErrNoReplicaPoint))
	assert.Equal(t, replica.Suspended, rel.State())
	e.noEvent()

	require.NoError(t, rel.Resume(e.ctx))
	require.Equal(t, replica.InitialReplicationPending, rel.State())
	res, err := rel.InitialReplication(e.ctx)
	require.NoError(t, err)
	require.NoError(t, e.event().Err)
	assert.Equal(t, replica.Replicating, rel.State())
	assert.Equal(t, [][]byte{vols[0].snapshot()}, e.pointImages("vm1", res.Point))
}
