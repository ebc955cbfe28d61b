package replica_test

import (
	"strings"
	"testing"

	"github.com/blockrep/blockrep/replica"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// What the primary sees while its group is failed over on the replica: a
// state conflict, not a reason to resynchronize nor an error that retrying
// can never cure. After a cancelled failover the next cycle succeeds; after
// a completed one — whose committed point this primary never sent — the
// cycles keep being refused and the relationship stays Replicating.
func TestPrimaryCyclesWhileReplicaFailedOver(t *testing.T) {
	f := newFailoverEnv(t, 64<<10, 5)
	f.cycle()
	f.cycle()

	// refused runs two cycles: the first on the connection kept from the
	// last cycle (the replica refuses the delta), the second on a new one
	// (the primary reads the failover in the replica's status).
	refused := func(want replica.State) {
		t.Helper()
		before := f.points("vm1")
		for i, path := range []string{"refused delta", "status"} {
			err := f.refusedCycle()
			assert.ErrorIs(t, err, replica.ErrReplicaFailedOver, path)
			assert.ErrorIs(t, err, replica.ErrInvalidState, path)
			assert.Equal(t, replica.Replicating, f.rel.State(), path)
			h := f.rel.Health()
			assert.Equal(t, replica.Critical, h.Level, path)
			require.NotEmpty(t, h.Reasons, path)
			assert.True(t, strings.HasPrefix(h.Reasons[0], "replica failed over"), "%s: %q", path, h.Reasons)
			for _, r := range h.Reasons {
				assert.NotContains(t, r, "retrying will not help", path)
			}
			assert.Equal(t, i+1, f.rel.Stats().ConsecutiveFailures, path)
			assert.Equal(t, want, f.state(), path)
			assert.Equal(t, before, f.points("vm1"), "%s: the replica's chain is untouched", path)
		}
	}

	_, err := f.replica.Failover(f.ctx, "vm1", replica.SelectLatest)
	require.NoError(t, err)
	refused(replica.FailedOverWaitingCompletion)

	// Cancelled: the next cycle succeeds, sending the refused cycles'
	// writes too, and health is back to Normal.
	require.NoError(t, f.replica.CancelFailover(f.ctx, "vm1"))
	res := f.cycle()
	assert.Equal(t, f.snaps[res.Point], f.pointImages("vm1", res.Point))
	assert.Equal(t, replica.Health{Level: replica.Normal}, f.rel.Health())
	assert.Zero(t, f.rel.Stats().ConsecutiveFailures)

	// Completed: the replica's one point is not one this primary sent, and
	// still the primary does not take it for a reason to resynchronize.
	fo, err := f.replica.Failover(f.ctx, "vm1", replica.SelectLatest)
	require.NoError(t, err)
	_, err = fo.Volumes()[0].WriteAt([]byte("written on the replica"), 4096)
	require.NoError(t, err)
	require.NoError(t, f.replica.CompleteFailover(f.ctx, "vm1"))
	pts := f.points("vm1")
	require.Len(t, pts, 1)
	last, _, _ := f.rel.LastPoint()
	require.NotEqual(t, last, pts[0].ID, "the completed failover committed a point of its own")
	refused(replica.FailedOver)
	assert.NotEqual(t, replica.ResynchronizationRequired, f.rel.State())

	// A resynchronization asked for meanwhile is refused the same way.
	_, err = f.rel.Resynchronize(f.ctx)
	assert.ErrorIs(t, err, replica.ErrReplicaFailedOver)
	f.event()
}
