package memory

import (
	"context"
	"fmt"
	"math/rand/v2"

	"github.com/blockrep/blockrep/transport"
)

// Endpoint is one named host of a Network; it implements
// transport.Transport.
type Endpoint struct {
	net  *Network
	name string
}

var _ transport.Transport = (*Endpoint)(nil)

// Name returns the endpoint's name, which is also the identity its
// connections present.
func (e *Endpoint) Name() string { return e.name }

// Listen starts listening at addr, any string unique in the network; an
// empty addr means the endpoint's name. It returns ErrAddressInUse when the
// address is taken.
func (e *Endpoint) Listen(ctx context.Context, addr string) (transport.Listener, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("memory: listen %q: %w", addr, err)
	}
	if addr == "" {
		addr = e.name
	}
	n := e.net
	n.mu.Lock()
	defer n.mu.Unlock()
	if _, ok := n.listeners[addr]; ok {
		return nil, fmt.Errorf("%w: %q", ErrAddressInUse, addr)
	}
	l := newListener(n, e.name, addr)
	n.listeners[addr] = l
	return l, nil
}

// Dial connects to the listener at addr. It fails with an error wrapping
// transport.ErrUnreachable when nothing listens there or the two endpoints
// are partitioned, and with transport.ErrTooManyConnections when the
// listener's backlog is full. It never blocks.
func (e *Endpoint) Dial(ctx context.Context, addr string) (transport.Conn, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("memory: dial %q: %w", addr, err)
	}
	n := e.net
	n.mu.Lock()
	l, ok := n.listeners[addr]
	if !ok {
		n.mu.Unlock()
		return nil, fmt.Errorf("memory: dial %q: nothing listens there: %w", addr, transport.ErrUnreachable)
	}
	if n.partitioned[newPair(e.name, l.name)] {
		n.mu.Unlock()
		return nil, fmt.Errorf("memory: dial %q: %s and %s are partitioned: %w", addr, e.name, l.name, transport.ErrUnreachable)
	}
	n.nextConn++
	id := n.nextConn
	seed := uint64(n.seed)
	out := newHalf(n, e.name, l.name, id, rand.New(rand.NewPCG(seed, id<<1)))
	in := newHalf(n, l.name, e.name, id, rand.New(rand.NewPCG(seed, id<<1|1)))
	dialer := &Conn{net: n, id: id, local: e.name, remote: l.name, localAddr: e.name, remoteAddr: addr, out: out, in: in}
	accepted := &Conn{net: n, id: id, local: l.name, remote: e.name, localAddr: addr, remoteAddr: e.name, out: in, in: out}
	dialer.peerConn, accepted.peerConn = accepted, dialer
	out.peer, in.peer = in, out
	// The network lock is held across push so that a concurrent Partition
	// either refuses this dial or finds the connection to cut.
	if err := l.push(accepted); err != nil {
		n.mu.Unlock()
		return nil, fmt.Errorf("memory: dial %q: %w", addr, err)
	}
	n.conns[dialer] = struct{}{}
	n.mu.Unlock()
	return dialer, nil
}
