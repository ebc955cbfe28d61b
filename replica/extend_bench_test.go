package replica_test

import (
	"testing"

	"github.com/blockrep/blockrep/checkpoint"
	"github.com/blockrep/blockrep/replica"
	"github.com/stretchr/testify/require"
)

// benchVolume is the size of each of the two volumes the forward
// benchmarks replicate, in 4 KiB blocks.
const benchVolume = 16 << 20

// BenchmarkForward1Percent forwards a point whose cycle wrote 1% of the
// blocks of two 16 MiB volumes (random, incompressible content): read
// from the point's view, encode, send over the in-memory network, verify
// and apply on the extended replica, acknowledge. Bytes per op are the
// changed blocks.
func BenchmarkForward1Percent(b *testing.B) {
	c := newChainSized(b, checkpoint.Retention{}, benchVolume)
	c.tick = 0 // the forwarding loop's timer never fires: only ForwardNow forwards
	ext := newHop(b, c.ctx, c.clk, c.net, "ext", "replica")
	c.b.extend("vm", ext, replica.Frequency5m, checkpoint.Retention{})
	require.NoError(b, c.b.forwarded().Err)
	n := int64(c.vols) * benchVolume / extBlock / 100
	b.SetBytes(n * extBlock)
	var stream int64
	for b.Loop() {
		b.StopTimer()
		c.cycle(n)
		b.StartTimer()
		res, err := c.b.host.ForwardNow(c.ctx, "vm")
		<-c.b.fwd
		require.NoError(b, err)
		stream += res.StreamBytes
	}
	b.ReportMetric(float64(stream)/float64(b.N), "stream-B/op")
}

// BenchmarkForwardInitial sends the initial copy of two 16 MiB volumes,
// about 63% of whose blocks hold random data, to an extended replica that
// has no group (removed, and a cycle run, before each op). Bytes per op
// are the volumes.
func BenchmarkForwardInitial(b *testing.B) {
	c := newChainSized(b, checkpoint.Retention{}, benchVolume)
	c.tick = 0
	ext := newHop(b, c.ctx, c.clk, c.net, "ext", "replica")
	c.b.extend("vm", ext, replica.Frequency5m, checkpoint.Retention{})
	require.NoError(b, c.b.forwarded().Err)
	b.SetBytes(int64(c.vols) * benchVolume)
	for b.Loop() {
		b.StopTimer()
		require.NoError(b, ext.store.RemoveGroup(c.ctx, "vm"))
		c.cycle(1) // a new point: the last one forwarded sends nothing
		b.StartTimer()
		res, err := c.b.host.ForwardNow(c.ctx, "vm")
		<-c.b.fwd
		require.NoError(b, err)
		require.True(b, res.Base.IsZero())
	}
}
