package replica_test

import (
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

// A replica host restarts — here after a crash that keeps only what was
// synced — in the middle of an unplanned failover: the new host finds the
// failover with the writes its Sync made durable, and completes it.
func ExampleReplicaHost_Recover() {
	ctx := context.Background()
	clock := replicatest.NewClock(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	network, _ := memory.NewNetwork(1)
	disk := vfs.NewMem() // the replica host's disk
	auth, _ := transport.NewAuthorizer([]transport.AuthEntry{{Peer: "hv1", Group: "*", Storage: "."}})
	listener, _ := network.Endpoint("hv2").Listen(ctx, "hv2:7300")
	defer listener.Close()
	start := func(disk vfs.FS) (*checkpoint.DirStore, *replica.ReplicaHost, func()) {
		store, _ := checkpoint.Open(disk, "replica-store")
		host, _ := replica.NewReplicaHost(replica.ReplicaConfig{Listener: listener, Store: store, Authorizer: auth, Clock: clock})
		sctx, cancel := context.WithCancel(ctx)
		served := make(chan error, 1)
		go func() { served <- host.Serve(sctx) }()
		return store, host, func() { cancel(); <-served; host.Close(); store.Close() }
	}
	_, replicaHost, stop := start(disk)

	primary, _ := replica.NewPrimaryHost(replica.PrimaryConfig{Transport: network.Endpoint("hv1"), Clock: clock})
	defer primary.Close()
	rel, err := primary.Enable(ctx, replica.GroupConfig{
		ID:       "vm-42",
		Volumes:  []replica.VolumeConfig{{Name: "system", Volume: newMemVolume(1 << 20), Size: 1 << 20}},
		Replica:  "hv2:7300",
		Metadata: []byte("<vm/>"),
	})
	if err != nil {
		fmt.Println("enable:", err)
		return
	}
	rel.Volume(0).WriteAt([]byte("version 1"), 0)
	rel.InitialReplication(ctx)

	f, _ := replicaHost.Failover(ctx, "vm-42", replica.SelectLatest)
	f.Volumes()[0].WriteAt([]byte("version 2"), 0)
	f.Sync()                                         // durable
	f.Volumes()[0].WriteAt([]byte("version 3"), 100) // not synced: lost in the crash

	stop()
	disk = disk.Crash()
	store, replicaHost, stop := start(disk)
	defer stop()
	if err := replicaHost.Recover(ctx); err != nil {
		fmt.Println("recover:", err)
		return
	}
	f, err = replicaHost.ActiveFailover("vm-42")
	if err != nil {
		fmt.Println("active failover:", err)
		return
	}
	buf := make([]byte, 9)
	f.Volumes()[0].ReadAt(buf, 0)
	lost := make([]byte, 9)
	f.Volumes()[0].ReadAt(lost, 100)
	fmt.Printf("after the restart: %q, unsynced write lost: %v, metadata %q\n", buf, lost[0] == 0, f.Metadata())

	clock.Advance(5 * time.Minute)
	rel.Volume(0).WriteAt([]byte("from the old primary"), 0)
	_, err = rel.Cycle(ctx)
	fmt.Println("old primary refused:", err != nil)

	replicaHost.CompleteFailover(ctx, "vm-42")
	g, _ := replicaHost.Group(ctx, "vm-42")
	group, _ := store.Group(ctx, "vm-42")
	view, _ := group.OpenPoint(ctx, g.Points[0].ID)
	view.Volumes()[0].ReadAt(buf, 0)
	view.Close()
	fmt.Printf("state: %s content: %q\n", g.State, buf)
	// Output:
	// after the restart: "version 2", unsynced write lost: true, metadata "<vm/>"
	// old primary refused: true
	// state: FailedOver content: "version 2"
}
