package replica_test

import (
	"context"
	"sync/atomic"
	"testing"

	"github.com/blockrep/blockrep/checkpoint"
	"github.com/blockrep/blockrep/replica"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// racingStore runs a hook once, armed, right after a group's Points has
// listed the chain: the moment between a failover's selection of its point
// and its clone, where an apply in progress may commit and prune.
type racingStore struct {
	checkpoint.Store
	hook *atomic.Pointer[func()]
}

func (s racingStore) Group(ctx context.Context, id string) (checkpoint.Group, error) {
	g, err := s.Store.Group(ctx, id)
	if err != nil {
		return nil, err
	}
	return racingGroup{Group: g, hook: s.hook}, nil
}

type racingGroup struct {
	checkpoint.Group
	hook *atomic.Pointer[func()]
}

func (g racingGroup) Points(ctx context.Context) ([]checkpoint.Point, error) {
	pts, err := g.Group.Points(ctx)
	if f := g.hook.Swap(nil); f != nil {
		(*f)()
	}
	return pts, err
}

// Found by the simulation (replicasim TestTestFailoverLatestPruned): a
// delta applied while StartTestFailover(SelectLatest) runs commits a new
// point and retention prunes the selected one before it is cloned. The
// test failover selects again and shows the new latest point, instead of
// failing with checkpoint.ErrUnknownPoint.
func TestTestFailoverLatestPrunedRegression(t *testing.T) {
	var hook atomic.Pointer[func()]
	f := newFailoverEnv(t, 64<<10, 0, withStoreWrapper(func(s checkpoint.Store) checkpoint.Store {
		return racingStore{Store: s, hook: &hook}
	}))
	k := f.cycle()
	pts := f.points("vm1")
	require.Len(t, pts, 1, "retention keeps the latest point only")
	require.Equal(t, k.Point, pts[0].ID)

	var next replica.CycleResult
	race := func() { next = f.cycle() } // applies while the test failover has selected k
	hook.Store(&race)
	tf, err := f.replica.StartTestFailover(f.ctx, "vm1", replica.SelectLatest)
	require.NoError(t, err)
	require.Nil(t, hook.Load(), "the apply ran between the selection and the clone")
	require.NotEqual(t, k.Point, next.Point)
	assert.Equal(t, next.Point, tf.Point().ID, "the point selected again: the latest")
	assert.Equal(t, f.snaps[next.Point], readImage(t, tf.Volumes()))
	assert.Equal(t, replica.TestFailoverRunning, f.state())
	pins, clones := f.pinsAndClones()
	require.Len(t, pins, 1)
	assert.Equal(t, next.Point, pins[0].Point)
	assert.Len(t, clones, 1)
	require.NoError(t, f.replica.StopTestFailover(f.ctx, "vm1"))
	assert.Equal(t, replica.Replicating, f.state())
}

// A failover of a point chosen by id that is pruned between its selection
// and its clone fails with ErrNoRecoveryPoint and leaves the group as it
// was.
func TestTestFailoverSelectedPointPruned(t *testing.T) {
	var hook atomic.Pointer[func()]
	f := newFailoverEnv(t, 64<<10, 0, withStoreWrapper(func(s checkpoint.Store) checkpoint.Store {
		return racingStore{Store: s, hook: &hook}
	}))
	k := f.cycle()
	race := func() { f.cycle() }
	hook.Store(&race)
	_, err := f.replica.StartTestFailover(f.ctx, "vm1", replica.SelectPoint(k.Point))
	require.ErrorIs(t, err, replica.ErrNoRecoveryPoint)
	assert.Nil(t, hook.Load())
	assert.Equal(t, replica.Replicating, f.state())
	pins, clones := f.pinsAndClones()
	assert.Empty(t, pins)
	assert.Empty(t, clones)
}
