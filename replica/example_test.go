package replica_test

import (
	"bytes"
	"context"
	"fmt"
	"time"

	"github.com/blockrep/blockrep/checkpoint"
	"github.com/blockrep/blockrep/checkpoint/vfs"
	"github.com/blockrep/blockrep/replica"
	"github.com/blockrep/blockrep/replica/replicatest"
	"github.com/blockrep/blockrep/transport"
	"github.com/blockrep/blockrep/transport/memory"
)

// Two hosts on an in-memory network: the primary enables a group of one
// volume, sends the initial copy, writes, and runs a cycle; the replica's
// latest recovery point then equals the primary's volume.
func Example() {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	clock := replicatest.NewClock(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	network, _ := memory.NewNetwork(1)

	// The replica host.
	store, _ := checkpoint.Open(vfs.NewMem(), "replica-store")
	defer store.Close()
	auth, _ := transport.NewAuthorizer([]transport.AuthEntry{{Peer: "hv1", Group: "*", Storage: "."}})
	listener, _ := network.Endpoint("hv2").Listen(ctx, "hv2:7300")
	defer listener.Close()
	replicaHost, _ := replica.NewReplicaHost(replica.ReplicaConfig{Listener: listener, Store: store, Authorizer: auth, Clock: clock})
	served := make(chan error, 1)
	go func() { served <- replicaHost.Serve(ctx) }()

	// The primary host and its group.
	primary, _ := replica.NewPrimaryHost(replica.PrimaryConfig{Transport: network.Endpoint("hv1"), Clock: clock})
	disk := newMemVolume(1 << 20) // a []byte volume with a mutex (helpers_test.go)
	rel, err := primary.Enable(ctx, replica.GroupConfig{
		ID:        "vm-42",
		Volumes:   []replica.VolumeConfig{{Name: "system", Volume: disk, Size: 1 << 20}},
		Replica:   "hv2:7300",
		Frequency: replica.Frequency30s,
	})
	if err != nil {
		fmt.Println("enable:", err)
		return
	}
	if _, err := rel.InitialReplication(ctx); err != nil {
		fmt.Println("initial replication:", err)
		return
	}

	// The host writes through the relationship's volume; a cycle ships it.
	rel.Volume(0).WriteAt([]byte("hello, replica"), 4096)
	res, err := rel.Cycle(ctx)
	if err != nil {
		fmt.Println("cycle:", err)
		return
	}

	g, _ := replicaHost.Group(ctx, "vm-42")
	fmt.Println("state:", rel.State())
	fmt.Println("recovery points:", len(g.Points))
	fmt.Println("blocks sent in the cycle:", res.Blocks)

	group, _ := store.Group(ctx, "vm-42")
	view, _ := group.OpenPoint(ctx, res.Point)
	got := make([]byte, 1<<20)
	view.Volumes()[0].ReadAt(got, 0)
	view.Close()
	fmt.Println("replica matches:", bytes.Equal(got, disk.snapshot()))

	primary.Close()
	cancel()
	<-served
	// Output:
	// state: Replicating
	// recovery points: 1
	// blocks sent in the cycle: 1
	// replica matches: true
}
