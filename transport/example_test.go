package transport_test

import (
	"context"
	"fmt"
	"io"
	"log"
	"strings"

	"github.com/blockrep/blockrep/transport"
	"github.com/blockrep/blockrep/transport/memory"
)

// Two endpoints of an in-memory network exchange a message, a stream and
// an acknowledgement over one connection.
func Example() {
	ctx := context.Background()
	network, err := memory.NewNetwork(1)
	if err != nil {
		log.Fatal(err)
	}
	listener, err := network.Endpoint("replica").Listen(ctx, "replica:7000")
	if err != nil {
		log.Fatal(err)
	}
	defer listener.Close()

	primary, err := network.Endpoint("primary").Dial(ctx, "replica:7000")
	if err != nil {
		log.Fatal(err)
	}
	defer primary.Close()
	replica, err := listener.Accept(ctx)
	if err != nil {
		log.Fatal(err)
	}
	defer replica.Close()

	// The primary sends a request, then a stream in 8-byte frames.
	if err := primary.Send(ctx, []byte("delta for group vm-1")); err != nil {
		log.Fatal(err)
	}
	w := transport.NewWriter(ctx, primary, 8)
	if _, err := io.Copy(w, strings.NewReader("blocks that changed since the last point")); err != nil {
		log.Fatal(err)
	}
	if err := w.Close(); err != nil { // sends the end-of-stream marker
		log.Fatal(err)
	}

	// The replica knows who is talking, reads the request and the stream,
	// and acknowledges on the same connection.
	req, err := replica.Recv(ctx, nil)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%s asks: %s\n", replica.Peer().Name, req)
	stream, err := io.ReadAll(transport.NewReader(ctx, replica))
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("stream: %s\n", stream)
	if err := replica.Send(ctx, []byte("applied")); err != nil {
		log.Fatal(err)
	}

	ack, err := primary.Recv(ctx, nil)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%s answers: %s\n", primary.Peer().Name, ack)
	// Output:
	// primary asks: delta for group vm-1
	// stream: blocks that changed since the last point
	// replica answers: applied
}
