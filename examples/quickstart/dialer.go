package main

import (
	"context"
	"sync"

	"github.com/blockrep/blockrep/transport"
	"github.com/blockrep/blockrep/transport/tcp"
)

// directory maps the loopback addresses the hosts listen on to the names
// their certificates carry, as DNS would on a real network: every host
// listens on 127.0.0.1, so the address alone cannot tell a dialer which
// certificate to expect.
type directory struct {
	mu    sync.RWMutex
	names map[string]string
}

func (d *directory) add(addr, name string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.names == nil {
		d.names = make(map[string]string)
	}
	d.names[addr] = name
}

func (d *directory) name(addr string) string {
	d.mu.RLock()
	defer d.mu.RUnlock()
	return d.names[addr]
}

// namedDialer is a host's transport: mutual TLS over TCP that expects the
// dialed peer's certificate to carry the name the directory gives its
// address (an address it does not know is checked against its host part,
// 127.0.0.1, which no certificate here carries, so the dial is refused).
type namedDialer struct {
	tls *tcp.Transport
	dir *directory
}

var _ transport.Transport = (*namedDialer)(nil)

func (d *namedDialer) Dial(ctx context.Context, addr string) (transport.Conn, error) {
	return d.tls.DialName(ctx, addr, d.dir.name(addr))
}

func (d *namedDialer) Listen(ctx context.Context, addr string) (transport.Listener, error) {
	return d.tls.Listen(ctx, addr)
}
