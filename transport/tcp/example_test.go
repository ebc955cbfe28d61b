package tcp_test

import (
	"context"
	"crypto/tls"
	"fmt"
	"log"

	"github.com/blockrep/blockrep/transport/certs"
	"github.com/blockrep/blockrep/transport/tcp"
)

// Two hosts with certificates from one CA connect over mutual TLS on
// loopback; each learns the other's name from its certificate.
func Example() {
	ctx := context.Background()
	ca, err := certs.NewCA("example CA")
	if err != nil {
		log.Fatal(err)
	}
	host := func(name string) *tcp.Transport {
		cert, err := ca.IssueCert(name)
		if err != nil {
			log.Fatal(err)
		}
		t, err := tcp.New(tcp.Config{
			Certificates: []tls.Certificate{cert.TLS},
			RootCAs:      ca.Pool(),
		})
		if err != nil {
			log.Fatal(err)
		}
		return t
	}
	primary, replica := host("primary.example"), host("replica.example")

	l, err := replica.Listen(ctx, "127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}
	defer l.Close()
	// The address is an IP: name the certificate the replica must present.
	conn, err := primary.DialName(ctx, l.Addr(), "replica.example")
	if err != nil {
		log.Fatal(err)
	}
	defer conn.Close()
	peer, err := l.Accept(ctx)
	if err != nil {
		log.Fatal(err)
	}
	defer peer.Close()

	if err := conn.Send(ctx, []byte("hello")); err != nil {
		log.Fatal(err)
	}
	msg, err := peer.Recv(ctx, nil)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("replica got %q from %s (authenticated: %v)\n", msg, peer.Peer().Name, peer.Peer().Authenticated)
	fmt.Printf("primary talks to %s\n", conn.Peer().Name)
	// Output:
	// replica got "hello" from primary.example (authenticated: true)
	// primary talks to replica.example
}
