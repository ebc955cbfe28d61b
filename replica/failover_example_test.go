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

// The replica side of a disaster: the primary is gone, so the replica
// host fails the group over to a recovery point, the VM works on the
// failover volumes, and the failover is completed. A test failover beforehand
// ran on a throw-away clone and changed nothing.
func ExampleReplicaHost_Failover() {
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
	rel, err := primary.Enable(ctx, replica.GroupConfig{
		ID:               "vm-42",
		Volumes:          []replica.VolumeConfig{{Name: "system", Volume: newMemVolume(1 << 20), Size: 1 << 20}},
		Replica:          "hv2:7300",
		FailoverSettings: []byte("ip=10.0.0.42"),
		Retention:        checkpoint.Retention{Additional: 4, Spacing: time.Minute},
	})
	if err != nil {
		fmt.Println("enable:", err)
		return
	}
	rel.InitialReplication(ctx)
	rel.Volume(0).WriteAt([]byte("version 1"), 0)
	clock.Advance(5 * time.Minute)
	first, _ := rel.Cycle(ctx)
	rel.Volume(0).WriteAt([]byte("version 2"), 0)
	clock.Advance(5 * time.Minute)
	rel.Cycle(ctx)

	// A test failover of the latest point: writable, thrown away.
	tf, _ := replicaHost.StartTestFailover(ctx, "vm-42", replica.SelectLatest)
	tf.Volumes()[0].WriteAt([]byte("scratch!!"), 0)
	replicaHost.StopTestFailover(ctx, "vm-42")

	// The primary is lost: fail over to the first point.
	primary.Close()
	f, err := replicaHost.Failover(ctx, "vm-42", replica.SelectPoint(first.Point))
	if err != nil {
		fmt.Println("failover:", err)
		return
	}
	buf := make([]byte, 9)
	f.Volumes()[0].ReadAt(buf, 0)
	fmt.Printf("failed over to %q with settings %q\n", buf, f.FailoverSettings())
	f.Volumes()[0].WriteAt([]byte("version 3"), 0)
	g, _ := replicaHost.Group(ctx, "vm-42")
	fmt.Println("state:", g.State, "points:", len(g.Points))

	if err := replicaHost.CompleteFailover(ctx, "vm-42"); err != nil {
		fmt.Println("complete:", err)
		return
	}
	g, _ = replicaHost.Group(ctx, "vm-42")
	group, _ := store.Group(ctx, "vm-42")
	view, _ := group.OpenPoint(ctx, g.Points[0].ID)
	view.Volumes()[0].ReadAt(buf, 0)
	view.Close()
	fmt.Printf("state: %s points: %d content: %q\n", g.State, len(g.Points), buf)

	cancel()
	<-served
	// Output:
	// failed over to "version 1" with settings "ip=10.0.0.42"
	// state: FailedOverWaitingCompletion points: 3
	// state: FailedOver points: 1 content: "version 3"
}
