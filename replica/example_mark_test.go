package replica_test

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/blockrep/blockrep/checkpoint"
	"github.com/blockrep/blockrep/checkpoint/vfs"
	"github.com/blockrep/blockrep/delta"
	"github.com/blockrep/blockrep/replica"
	"github.com/blockrep/blockrep/replica/replicatest"
	"github.com/blockrep/blockrep/transport"
	"github.com/blockrep/blockrep/transport/memory"
)

// Another program writes the volume's file directly. A page-hash scan
// against the hashes kept from the last cycle finds the changed pages,
// MarkChangedPages marks them, and the cycle sends those two pages, not the
// two 64 KiB blocks that hold them.
func ExampleRelationship_MarkChangedPages() {
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
	const size = 4 << 20 // 64 blocks of 64 KiB
	disk := newMemVolume(size)
	content := make([]byte, size) // incompressible, as a full disk image is
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range content {
		content[i] = byte(rng.Uint32())
	}
	disk.WriteAt(content, 0)
	rel, err := primary.Enable(ctx, replica.GroupConfig{
		ID:      "vm-42",
		Volumes: []replica.VolumeConfig{{Name: "system", Volume: disk, Size: size}},
		Replica: "hv2:7300",
	})
	if err != nil {
		fmt.Println("enable:", err)
		return
	}
	if _, err := rel.InitialReplication(ctx); err != nil {
		fmt.Println("initial replication:", err)
		return
	}
	geom := delta.Geometry{Size: size, BlockSize: delta.DefaultBlockSize}
	last, _ := delta.Scan(ctx, disk, geom, nil) // the hashes the replica's copy has

	// Written behind the tracker's back: one page in block 1, one in block 40.
	disk.WriteAt([]byte("offline edit"), 1<<16)
	disk.WriteAt([]byte("another one"), 40<<16+8192)

	scan, _ := delta.Scan(ctx, disk, geom, last.Hashes)
	fmt.Println("changed pages:", scan.ChangedPages.Count(), "in blocks:", scan.Blocks.Count())
	if err := rel.MarkChangedPages(0, scan.ChangedPages); err != nil {
		fmt.Println("mark:", err)
		return
	}
	res, err := rel.Cycle(ctx)
	if err != nil {
		fmt.Println("cycle:", err)
		return
	}
	fmt.Println("blocks sent:", res.Blocks, "delta below three pages:", res.StreamBytes < 3*delta.PageSize)

	group, _ := store.Group(ctx, "vm-42")
	view, _ := group.OpenPoint(ctx, res.Point)
	got := make([]byte, size)
	view.Volumes()[0].ReadAt(got, 0)
	view.Close()
	fmt.Println("replica matches:", bytes.Equal(got, disk.snapshot()))

	primary.Close()
	cancel()
	<-served
	// Output:
	// changed pages: 2 in blocks: 2
	// blocks sent: 2 delta below three pages: true
	// replica matches: true
}
