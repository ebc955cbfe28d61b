package memory_test

import (
	"context"
	"errors"
	"fmt"
	"log"

	"github.com/blockrep/blockrep/transport"
	"github.com/blockrep/blockrep/transport/memory"
)

// A partition cuts an open connection and refuses new dials until healed.
func ExampleNetwork_Partition() {
	ctx := context.Background()
	network, err := memory.NewNetwork(42)
	if err != nil {
		log.Fatal(err)
	}
	l, err := network.Endpoint("replica").Listen(ctx, "")
	if err != nil {
		log.Fatal(err)
	}
	defer l.Close()
	primary := network.Endpoint("primary")
	conn, err := primary.Dial(ctx, "replica")
	if err != nil {
		log.Fatal(err)
	}
	defer conn.Close()

	network.Partition("primary", "replica")
	err = conn.Send(ctx, []byte("chunk"))
	fmt.Println("send:", errors.Is(err, transport.ErrConnectionLost))
	_, err = primary.Dial(ctx, "replica")
	fmt.Println("dial:", errors.Is(err, transport.ErrUnreachable))

	network.Heal("primary", "replica")
	again, err := primary.Dial(ctx, "replica")
	fmt.Println("after heal:", err)
	again.Close()
	// Output:
	// send: true
	// dial: true
	// after heal: <nil>
}

// A fault hook damages chosen frames: here the second frame is dropped.
func ExampleFaults() {
	ctx := context.Background()
	network, err := memory.NewNetwork(1)
	if err != nil {
		log.Fatal(err)
	}
	network.SetFaults("primary", "replica", memory.Faults{Hook: func(f memory.FrameInfo) memory.Action {
		if f.Index == 1 {
			return memory.Drop
		}
		return memory.Deliver
	}})
	l, err := network.Endpoint("replica").Listen(ctx, "")
	if err != nil {
		log.Fatal(err)
	}
	defer l.Close()
	conn, err := network.Endpoint("primary").Dial(ctx, "replica")
	if err != nil {
		log.Fatal(err)
	}
	defer conn.Close()
	peer, err := l.Accept(ctx)
	if err != nil {
		log.Fatal(err)
	}
	defer peer.Close()
	for _, msg := range []string{"one", "two", "three"} {
		if err := conn.Send(ctx, []byte(msg)); err != nil {
			log.Fatal(err)
		}
	}
	for range 2 {
		b, err := peer.Recv(ctx, nil)
		if err != nil {
			log.Fatal(err)
		}
		fmt.Println(string(b))
	}
	// Output:
	// one
	// three
}
