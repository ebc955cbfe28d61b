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

// exampleHost is one machine of the example: a primary host, and a replica
// host that names it as its Primary and keeps groups in a store of its own.
type exampleHost struct {
	primary  *replica.PrimaryHost
	replica  *replica.ReplicaHost
	store    *checkpoint.DirStore
	listener transport.Listener
	served   chan error
}

func startExampleHost(ctx context.Context, network *memory.Network, clock replica.Clock, name, peer string) *exampleHost {
	h := &exampleHost{served: make(chan error, 1)}
	h.primary, _ = replica.NewPrimaryHost(replica.PrimaryConfig{Transport: network.Endpoint(name), Clock: clock})
	h.store, _ = checkpoint.Open(vfs.NewMem(), name+"-store")
	auth, _ := transport.NewAuthorizer([]transport.AuthEntry{{Peer: peer, Group: "*", Storage: "."}})
	h.listener, _ = network.Endpoint(name).Listen(ctx, name+":7300")
	h.replica, _ = replica.NewReplicaHost(replica.ReplicaConfig{Listener: h.listener, Store: h.store, Authorizer: auth, Clock: clock, Primary: h.primary})
	go func() { h.served <- h.replica.Serve(ctx) }()
	return h
}

// Enable → cycle → planned failover → reverse: hv1 replicates vm-42 to
// hv2, hands it over with nothing lost, becomes hv2's replica, and hv2's
// first cycle sends only what was written on hv2.
func ExampleReplicaHost_Reverse() {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	clock := replicatest.NewClock(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	network, _ := memory.NewNetwork(1)
	hv1 := startExampleHost(ctx, network, clock, "hv1", "hv2")
	hv2 := startExampleHost(ctx, network, clock, "hv2", "hv1")

	// hv1 is the primary.
	disk := newMemVolume(1 << 20)
	rel, _ := hv1.primary.Enable(ctx, replica.GroupConfig{
		ID:      "vm-42",
		Volumes: []replica.VolumeConfig{{Name: "system", Volume: disk, Size: 1 << 20}},
		Replica: "hv2:7300",
	})
	rel.InitialReplication(ctx)
	rel.Volume(0).WriteAt([]byte("written on hv1"), 0)
	rel.Cycle(ctx)

	// The VM on hv1 is shut down: planned failover to hv2.
	rel.Volume(0).WriteAt([]byte("last write on hv1"), 1<<16)
	res, err := rel.PlannedFailover(ctx)
	if err != nil {
		fmt.Println("planned failover:", err)
		return
	}
	_, err = rel.Volume(0).WriteAt([]byte("too late"), 0)
	fmt.Println("write after the failover:", err)
	g, _ := hv2.replica.Group(ctx, "vm-42")
	fmt.Println("hv2:", g.State, "blocks in the final cycle:", res.Blocks)

	// hv1 becomes the replica; hv2 the primary, replicating back to hv1.
	if err := hv1.primary.Demote(ctx, "vm-42", hv1.replica); err != nil {
		fmt.Println("demote:", err)
		return
	}
	back, err := hv2.replica.Reverse(ctx, "vm-42", hv2.primary, replica.ReverseConfig{Replica: "hv1:7300"})
	if err != nil {
		fmt.Println("reverse:", err)
		return
	}
	back.Volume(0).WriteAt([]byte("written on hv2"), 2<<16)
	cyc, err := back.Cycle(ctx)
	if err != nil {
		fmt.Println("reverse cycle:", err)
		return
	}
	fmt.Println("hv2→hv1 cycle: blocks", cyc.Blocks, "based on the final point:", cyc.Base == res.Point)

	group, _ := hv1.store.Group(ctx, "vm-42")
	view, _ := group.OpenPoint(ctx, cyc.Point)
	got, want := make([]byte, 1<<20), make([]byte, 1<<20)
	view.Volumes()[0].ReadAt(got, 0)
	view.Close()
	back.Volume(0).ReadAt(want, 0)
	fmt.Println("hv1 holds hv2's image:", bytes.Equal(got, want))

	for _, h := range []*exampleHost{hv1, hv2} {
		h.primary.Close()
	}
	cancel()
	for _, h := range []*exampleHost{hv1, hv2} {
		<-h.served
		h.replica.Close()
		h.listener.Close()
		h.store.Close()
	}
	// Output:
	// write after the failover: replica: writes stopped for a planned failover
	// hv2: FailedOver blocks in the final cycle: 1
	// hv2→hv1 cycle: blocks 1 based on the final point: true
	// hv1 holds hv2's image: true
}
