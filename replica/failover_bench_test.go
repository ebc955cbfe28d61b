package replica_test

import (
	"fmt"
	"testing"

	"github.com/blockrep/blockrep/replica"
	"github.com/stretchr/testify/require"
)

// BenchmarkTestFailoverStartStop measures a test failover's cost on an
// in-memory store: clone a point, write one block, discard.
func BenchmarkTestFailoverStartStop(b *testing.B) {
	e := newEnv(b)
	cfg, _ := groupConfig("vm1", 16<<20, 1)
	rel, err := e.primary.Enable(e.ctx, cfg)
	require.NoError(b, err)
	_, err = rel.InitialReplication(e.ctx)
	require.NoError(b, err)
	<-e.events
	block := make([]byte, 4096)
	for b.Loop() {
		tf, err := e.replica.StartTestFailover(e.ctx, "vm1", replica.SelectLatest)
		require.NoError(b, err)
		_, err = tf.Volumes()[0].WriteAt(block, 4096)
		require.NoError(b, err)
		require.NoError(b, e.replica.StopTestFailover(e.ctx, "vm1"))
	}
}

// BenchmarkCompleteFailover measures committing a failover image with
// 4 MiB written to a 16 MiB volume (in memory): the delta from the latest
// point is encoded, verified and applied, then the other points dropped.
func BenchmarkCompleteFailover(b *testing.B) {
	const written = 4 << 20
	e := newEnv(b)
	data := make([]byte, written)
	for i := range data {
		data[i] = byte(i*7 + i>>12)
	}
	b.SetBytes(written)
	i := 0
	for b.Loop() {
		b.StopTimer()
		id := fmt.Sprintf("vm%d", i)
		i++
		cfg, _ := groupConfig(id, 16<<20, 1)
		rel, err := e.primary.Enable(e.ctx, cfg)
		require.NoError(b, err)
		_, err = rel.InitialReplication(e.ctx)
		require.NoError(b, err)
		<-e.events
		fo, err := e.replica.Failover(e.ctx, id, replica.SelectLatest)
		require.NoError(b, err)
		_, err = fo.Volumes()[0].WriteAt(data, 1<<20)
		require.NoError(b, err)
		b.StartTimer()
		require.NoError(b, e.replica.CompleteFailover(e.ctx, id))
		b.StopTimer()
		require.NoError(b, e.primary.Remove(e.ctx, id))
		b.StartTimer()
	}
}
