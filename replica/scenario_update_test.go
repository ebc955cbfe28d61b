package replica_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/blockrep/blockrep/checkpoint"
	"github.com/blockrep/blockrep/delta"
	"github.com/blockrep/blockrep/replica"
)

// The story of changing a group after Enable: new metadata and failover
// settings reach the replica at once and come back from the next failover;
// a shorter retention prunes there at once; a change made while the
// replica is unreachable waits, and goes before the next cycle's delta.
func TestUpdateGroupAfterEnable(t *testing.T) {
	f := newFailoverEnv(t, 64<<10, 5)
	for range 4 {
		f.cycle()
	}
	require.Len(t, f.points("vm1"), 5)

	// Metadata and failover settings: on the replica at once.
	require.NoError(t, f.rel.SetMetadata(f.ctx, []byte("<vm name='vm1' mem='8G'/>")))
	require.NoError(t, f.rel.SetFailoverSettings(f.ctx, []byte("ip=10.0.0.42")))
	assert.False(t, f.rel.UpdatePending())
	assert.Equal(t, []byte("<vm name='vm1' mem='8G'/>"), f.rel.Metadata())
	assert.Equal(t, []byte("ip=10.0.0.42"), f.rel.FailoverSettings())
	rg, err := f.replica.Group(f.ctx, "vm1")
	require.NoError(t, err)
	assert.Equal(t, []byte("<vm name='vm1' mem='8G'/>"), rg.Metadata)
	assert.Equal(t, []byte("ip=10.0.0.42"), rg.FailoverSettings)
	tf, err := f.replica.StartTestFailover(f.ctx, "vm1", replica.SelectLatest)
	require.NoError(t, err)
	assert.Equal(t, []byte("<vm name='vm1' mem='8G'/>"), tf.Metadata())
	assert.Equal(t, []byte("ip=10.0.0.42"), tf.FailoverSettings())
	require.NoError(t, f.replica.StopTestFailover(f.ctx, "vm1"))

	// A shorter retention prunes on the replica at once.
	require.NoError(t, f.rel.SetRetention(f.ctx, checkpoint.Retention{Additional: 1, Spacing: time.Minute}))
	pts := f.points("vm1")
	require.Len(t, pts, 2)
	rg, err = f.replica.Group(f.ctx, "vm1")
	require.NoError(t, err)
	assert.Equal(t, checkpoint.Retention{Additional: 1, Spacing: time.Minute}, rg.Retention)
	res := f.cycle()
	pts = f.points("vm1")
	require.Len(t, pts, 2, "the new retention keeps applying")
	assert.Equal(t, res.Point, pts[1].ID)

	// Unreachable: the change is made here and waits.
	f.net.Partition("primary", "replica")
	err = f.rel.SetMetadata(f.ctx, []byte("<vm v3/>"))
	require.ErrorIs(t, err, replica.ErrUpdatePending)
	err = f.rel.SetRetention(f.ctx, checkpoint.Retention{Additional: 2, Spacing: time.Minute})
	require.ErrorIs(t, err, replica.ErrUpdatePending, "the changes wait together")
	assert.True(t, f.rel.UpdatePending())
	assert.Equal(t, []byte("<vm v3/>"), f.rel.Metadata())
	rg, err = f.replica.Group(f.ctx, "vm1")
	require.NoError(t, err)
	assert.Equal(t, []byte("<vm name='vm1' mem='8G'/>"), rg.Metadata, "not on the replica yet")
	f.net.HealAll()
	res = f.cycle()
	assert.False(t, f.rel.UpdatePending())
	rg, err = f.replica.Group(f.ctx, "vm1")
	require.NoError(t, err)
	assert.Equal(t, []byte("<vm v3/>"), rg.Metadata, "sent before the cycle's delta")
	assert.Equal(t, checkpoint.Retention{Additional: 2, Spacing: time.Minute}, rg.Retention)
	assert.Equal(t, []byte("ip=10.0.0.42"), rg.FailoverSettings)
	assert.Equal(t, f.snaps[res.Point], f.pointImages("vm1", res.Point))

	// The next unplanned failover hands back the latest of both.
	fo, err := f.replica.Failover(f.ctx, "vm1", replica.SelectLatest)
	require.NoError(t, err)
	assert.Equal(t, []byte("<vm v3/>"), fo.Metadata())
	assert.Equal(t, []byte("ip=10.0.0.42"), fo.FailoverSettings())

	// Failed over: the replica refuses the change, which waits.
	err = f.rel.SetFailoverSettings(f.ctx, []byte("ip=10.0.0.43"))
	require.ErrorIs(t, err, replica.ErrUpdatePending)
	require.ErrorIs(t, err, replica.ErrReplicaFailedOver)
	assert.True(t, f.rel.UpdatePending())
	require.NoError(t, f.replica.CancelFailover(f.ctx, "vm1"))
	f.cycle()
	assert.False(t, f.rel.UpdatePending())
	rg, err = f.replica.Group(f.ctx, "vm1")
	require.NoError(t, err)
	assert.Equal(t, []byte("ip=10.0.0.43"), rg.FailoverSettings)
	assert.Equal(t, []byte("<vm v3/>"), rg.Metadata)
}

// Bad values are refused before anything changes, as Enable refuses them.
func TestUpdateGroupInvalid(t *testing.T) {
	f := newFailoverEnv(t, 32<<10, 2)
	for _, tc := range []struct {
		name string
		err  error
	}{
		{"metadata", f.rel.SetMetadata(f.ctx, make([]byte, delta.MaxMeta+1))},
		{"record too large", f.rel.SetMetadata(f.ctx, make([]byte, delta.MaxMeta))},
		{"settings", f.rel.SetFailoverSettings(f.ctx, make([]byte, replica.MaxFailoverSettings+1))},
		{"negative retention", f.rel.SetRetention(f.ctx, checkpoint.Retention{Additional: -1})},
		{"retention too long", f.rel.SetRetention(f.ctx, checkpoint.Retention{Additional: checkpoint.MaxPoints})},
		{"negative spacing", f.rel.SetRetention(f.ctx, checkpoint.Retention{Spacing: -time.Second})},
	} {
		assert.ErrorIs(t, tc.err, replica.ErrInvalidConfig, tc.name)
	}
	assert.False(t, f.rel.UpdatePending())
	assert.Equal(t, []byte("<vm name='vm1'/>"), f.rel.Metadata())
	rg, err := f.replica.Group(f.ctx, "vm1")
	require.NoError(t, err)
	assert.Equal(t, checkpoint.Retention{Additional: 2, Spacing: time.Minute}, rg.Retention)
	assert.Equal(t, []byte("<vm name='vm1'/>"), rg.Metadata)
}
