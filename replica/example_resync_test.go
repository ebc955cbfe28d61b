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

// A primary restarts without persistent tracking, and its volume was
// edited while it was down: the relationship requires resynchronization.
// Resynchronize compares block hashes with the replica and sends only the
// two blocks that differ.
func ExampleRelationship_Resynchronize() {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	clock := replicatest.NewClock(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	network, _ := memory.NewNetwork(1)
	store, _ := checkpoint.Open(vfs.NewMem(), "replica-store")
	defer store.Close()
	auth, _ := transport.NewAuthorizer([]transport.AuthEntry{{Peer: "hv1", Group: "*", Storage: "."}})
	listener, _ := network.Endpoint("hv2").Listen(ctx, "hv2:7300")
	defer listener.Close()
	replicaHost, _ := replica.NewReplicaHost(replica.ReplicaConfig{Listener: listener, Store: store, Authorizer: auth, Clock: clock})
	served := make(chan error, 1)
	go func() { served <- replicaHost.Serve(ctx) }()

	primary, _ := replica.NewPrimaryHost(replica.PrimaryConfig{Transport: network.Endpoint("hv1"), Clock: clock})
	disk := newMemVolume(4 << 20) // 64 blocks of 64 KiB
	cfg := replica.GroupConfig{
		ID:      "vm-42",
		Volumes: []replica.VolumeConfig{{Name: "system", Volume: disk, Size: 4 << 20}},
		Replica: "hv2:7300",
	}
	rel, err := primary.Enable(ctx, cfg)
	if err != nil {
		fmt.Println("enable:", err)
		return
	}
	if _, err := rel.InitialReplication(ctx); err != nil {
		fmt.Println("initial replication:", err)
		return
	}
	last, _, _ := rel.LastPoint()
	primary.Remove(ctx, "vm-42") // the host stops

	// Edited while no tracker watched: blocks 1 and 40 change.
	disk.WriteAt([]byte("offline edit"), 1<<16)
	disk.WriteAt([]byte("another one"), 40<<16)

	rel, _ = primary.Reattach(ctx, cfg, last)
	fmt.Println("after restart:", rel.State())
	res, err := rel.Resynchronize(ctx)
	if err != nil {
		fmt.Println("resynchronize:", err)
		return
	}
	fmt.Println("after resync:", rel.State())
	fmt.Println("differing blocks:", res.DifferingBlocks, "sent:", res.Blocks)
	fmt.Println("hash traffic below every block hash:", res.HashBytes < 64*32)

	group, _ := store.Group(ctx, "vm-42")
	view, _ := group.OpenPoint(ctx, res.Point)
	got := make([]byte, 4<<20)
	view.Volumes()[0].ReadAt(got, 0)
	view.Close()
	fmt.Println("replica matches:", bytes.Equal(got, disk.snapshot()))

	primary.Close()
	cancel()
	<-served
	// Output:
	// after restart: ResynchronizationRequired
	// after resync: Replicating
	// differing blocks: 2 sent: 2
	// hash traffic below every block hash: true
	// replica matches: true
}
