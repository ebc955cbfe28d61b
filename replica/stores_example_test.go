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

// Two primaries replicate into two storage locations of one replica host,
// chosen by their authorization entries; a metadata change after Enable
// reaches the replica at once.
func ExampleReplicaConfig_stores() {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	clock := replicatest.NewClock(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	network, _ := memory.NewNetwork(1)
	local, _ := checkpoint.Open(vfs.NewMem(), "local")
	defer local.Close()
	fast, _ := checkpoint.Open(vfs.NewMem(), "ssd")
	defer fast.Close()
	auth, _ := transport.NewAuthorizer([]transport.AuthEntry{
		{Peer: "hv1", Group: "*", Storage: "."},
		{Peer: "hv3", Group: "*", Storage: "ssd"},
	})
	listener, _ := network.Endpoint("hv2").Listen(ctx, "hv2:7300")
	defer listener.Close()
	replicaHost, _ := replica.NewReplicaHost(replica.ReplicaConfig{
		Listener: listener, Store: local, Authorizer: auth, Clock: clock,
		Stores: map[string]checkpoint.Store{"ssd": fast},
	})
	served := make(chan error, 1)
	go func() { served <- replicaHost.Serve(ctx) }()

	var rels []*replica.Relationship
	for _, p := range []struct{ host, group string }{{"hv1", "web"}, {"hv3", "db"}} {
		primary, _ := replica.NewPrimaryHost(replica.PrimaryConfig{Transport: network.Endpoint(p.host), Clock: clock})
		defer primary.Close()
		rel, err := primary.Enable(ctx, replica.GroupConfig{
			ID:       p.group,
			Volumes:  []replica.VolumeConfig{{Name: "system", Volume: newMemVolume(64 << 10), Size: 64 << 10}},
			Replica:  "hv2:7300",
			Metadata: []byte("v1"),
		})
		if err != nil {
			fmt.Println("enable:", err)
			return
		}
		rel.InitialReplication(ctx)
		rels = append(rels, rel)
	}
	inLocal, _ := local.Groups(ctx)
	inFast, _ := fast.Groups(ctx)
	all, _ := replicaHost.Groups(ctx)
	fmt.Println("local:", inLocal, "ssd:", inFast, "all:", all)

	if err := rels[1].SetMetadata(ctx, []byte("v2: 16 GiB of memory")); err != nil {
		fmt.Println("set metadata:", err)
		return
	}
	g, _ := replicaHost.Group(ctx, "db")
	fmt.Printf("db metadata on the replica: %q\n", g.Metadata)

	cancel()
	<-served
	// Output:
	// local: [web] ssd: [db] all: [db web]
	// db metadata on the replica: "v2: 16 GiB of memory"
}
