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

// Three hosts: hv1 replicates a group to hv2 every 30 seconds, and hv2
// forwards it to hv3 every 5 minutes. Three cycles later, one forward
// carries all three points' changes as one delta, under the id of hv2's
// latest point.
func ExampleReplicaHost_Extend() {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	clock := replicatest.NewClock(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	network, _ := memory.NewNetwork(1)

	// replicaHost starts a replica host at name that lets upstream in; it
	// dials further hops from the same endpoint.
	replicaHost := func(name, upstream string) (*replica.ReplicaHost, *checkpoint.DirStore, func()) {
		store, _ := checkpoint.Open(vfs.NewMem(), name, checkpoint.WithClock(clock.Now))
		auth, _ := transport.NewAuthorizer([]transport.AuthEntry{{Peer: upstream, Group: "*", Storage: "."}})
		listener, _ := network.Endpoint(name).Listen(ctx, name+":7300")
		h, _ := replica.NewReplicaHost(replica.ReplicaConfig{
			Listener: listener, Store: store, Authorizer: auth, Clock: clock,
			Transport: network.Endpoint(name), // for extended replication
		})
		served := make(chan error, 1)
		hctx, stop := context.WithCancel(ctx)
		go func() { served <- h.Serve(hctx) }()
		return h, store, func() { stop(); <-served; listener.Close(); store.Close() }
	}
	hv2, store2, stop2 := replicaHost("hv2", "hv1")
	defer stop2()
	_, store3, stop3 := replicaHost("hv3", "hv2")
	defer stop3()

	primary, _ := replica.NewPrimaryHost(replica.PrimaryConfig{Transport: network.Endpoint("hv1"), Clock: clock})
	defer primary.Close()
	disk := newMemVolume(1 << 20) // a []byte volume with a mutex (helpers_test.go)
	rel, _ := primary.Enable(ctx, replica.GroupConfig{
		ID:        "vm-42",
		Volumes:   []replica.VolumeConfig{{Name: "system", Volume: disk, Size: 1 << 20}},
		Replica:   "hv2:7300",
		Frequency: replica.Frequency30s,
		Retention: checkpoint.Retention{Additional: 4, Spacing: time.Second},
	})
	rel.Volume(0).WriteAt(bytes.Repeat([]byte("boot"), 1024), 0)
	rel.InitialReplication(ctx)

	// hv2 forwards at once (the initial copy), then every 5 minutes.
	forwarded := make(chan replica.ForwardEvent, 8)
	err := hv2.Extend(ctx, "vm-42", replica.ExtendConfig{
		Replica:   "hv3:7300",
		Frequency: replica.Frequency5m,
		OnForward: func(ev replica.ForwardEvent) { forwarded <- ev },
	})
	if err != nil {
		fmt.Println("extend:", err)
		return
	}
	ev := <-forwarded
	fmt.Printf("initial copy: %d point, error %v\n", ev.Result.Points, ev.Err)

	for i := range 3 {
		clock.Advance(time.Second)
		rel.Volume(0).WriteAt([]byte(fmt.Sprintf("write %d", i)), int64(i+1)*65536)
		rel.Cycle(ctx)
	}
	res, err := hv2.ForwardNow(ctx, "vm-42")
	if err != nil {
		fmt.Println("forward:", err)
		return
	}
	fmt.Printf("forward: %d points coalesced, %d blocks sent\n", res.Points, res.Blocks)

	g2, _ := store2.Group(ctx, "vm-42")
	g3, _ := store3.Group(ctx, "vm-42")
	latest2, _ := g2.Latest(ctx)
	latest3, _ := g3.Latest(ctx)
	fmt.Println("hv3 is at hv2's latest point:", latest3.ID == latest2.ID && latest3.Hash == latest2.Hash)
	pins, _ := g2.Pins(ctx)
	fmt.Println("hv2 holds for hv3:", pins[0].Holder, pins[0].Point == latest2.ID)
	// Output:
	// initial copy: 1 point, error <nil>
	// forward: 3 points coalesced, 3 blocks sent
	// hv3 is at hv2's latest point: true
	// hv2 holds for hv3: extend:hv3:7300 true
}
