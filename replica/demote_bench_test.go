package replica_test

import (
	"context"
	"math/rand/v2"
	"testing"

	"github.com/blockrep/blockrep/checkpoint"
	"github.com/blockrep/blockrep/checkpoint/vfs"
	"github.com/blockrep/blockrep/delta"
	"github.com/blockrep/blockrep/replica"
	"github.com/blockrep/blockrep/transport"
	"github.com/blockrep/blockrep/transport/memory"
	"github.com/stretchr/testify/require"
)

// BenchmarkDemoteCopy measures Demote's local copy of a 64 MiB volume,
// half of whose 64 KiB blocks hold data, into the host's own replica
// store (MemFS): one read of the volume and one write of its non-zero
// blocks, verified and applied like any delta. SetBytes is the volume
// size.
func BenchmarkDemoteCopy(b *testing.B) {
	const size = 64 << 20
	ctx := context.Background()
	net, err := memory.NewNetwork(1)
	require.NoError(b, err)
	l, err := net.Endpoint("A").Listen(ctx, "A:1")
	require.NoError(b, err)
	defer l.Close()
	store, err := checkpoint.Open(vfs.NewMem(), "store")
	require.NoError(b, err)
	defer store.Close()
	auth, err := transport.NewAuthorizer([]transport.AuthEntry{{Peer: "B", Group: "*", Storage: "."}})
	require.NoError(b, err)
	rh, err := replica.NewReplicaHost(replica.ReplicaConfig{Listener: l, Store: store, Authorizer: auth})
	require.NoError(b, err)
	defer rh.Close()
	p, err := replica.NewPrimaryHost(replica.PrimaryConfig{Transport: net.Endpoint("A")})
	require.NoError(b, err)
	defer p.Close()

	vol := newMemVolume(size)
	rng := rand.New(rand.NewPCG(1, 2))
	for blk := int64(0); blk < size/(64<<10); blk += 2 {
		buf := make([]byte, 64<<10)
		for i := range buf {
			buf[i] = byte(rng.Uint32())
		}
		_, err := vol.WriteAt(buf, blk*(64<<10))
		require.NoError(b, err)
	}
	cfg := replica.GroupConfig{ID: "vm1", Replica: "B:1", Volumes: []replica.VolumeConfig{{Name: "disk0", Volume: vol, Size: size}}}
	b.SetBytes(size)
	b.ReportAllocs()
	for b.Loop() {
		b.StopTimer()
		_, err := p.Reattach(ctx, cfg, delta.PointID{1})
		require.NoError(b, err)
		b.StartTimer()
		require.NoError(b, p.Demote(ctx, "vm1", rh))
		b.StopTimer()
		require.NoError(b, store.RemoveGroup(ctx, "vm1"))
		b.StartTimer()
	}
}
