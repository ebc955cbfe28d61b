package memory

import (
	"context"
	"fmt"
	"sync"

	"github.com/blockrep/blockrep/transport"
)

// listener holds dialed connections until Accept takes them.
type listener struct {
	net        *Network
	name, addr string

	mu     sync.Mutex
	queue  []*Conn
	closed bool
	wake   chan struct{} // closed and replaced when queue or closed change
}

var _ transport.Listener = (*listener)(nil)

func newListener(n *Network, name, addr string) *listener {
	return &listener{net: n, name: name, addr: addr, wake: make(chan struct{})}
}

// push queues a dialed connection; called with the network lock held.
func (l *listener) push(c *Conn) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return fmt.Errorf("listener closed: %w", transport.ErrUnreachable)
	}
	if len(l.queue) >= l.net.opts.backlog {
		return fmt.Errorf("%d connections wait to be accepted: %w", len(l.queue), transport.ErrTooManyConnections)
	}
	l.queue = append(l.queue, c)
	close(l.wake)
	l.wake = make(chan struct{})
	return nil
}

// Accept returns the next dialed connection, ErrClosed after Close, or
// ctx's error.
func (l *listener) Accept(ctx context.Context) (transport.Conn, error) {
	for {
		l.mu.Lock()
		if l.closed {
			l.mu.Unlock()
			return nil, fmt.Errorf("memory: accept on %q: %w", l.addr, transport.ErrClosed)
		}
		if len(l.queue) > 0 {
			c := l.queue[0]
			l.queue[0] = nil
			l.queue = l.queue[1:]
			l.mu.Unlock()
			return c, nil
		}
		wake := l.wake
		l.mu.Unlock()
		select {
		case <-wake:
		case <-ctx.Done():
			return nil, fmt.Errorf("memory: accept on %q: %w", l.addr, ctx.Err())
		}
	}
}

// Addr returns the address the listener was given.
func (l *listener) Addr() string { return l.addr }

// Close stops listening and closes the connections not yet accepted; their
// dialers see io.EOF. It is idempotent.
func (l *listener) Close() error {
	n := l.net
	n.mu.Lock()
	if n.listeners[l.addr] == l {
		delete(n.listeners, l.addr)
	}
	n.mu.Unlock()
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return nil
	}
	l.closed = true
	pending := l.queue
	l.queue = nil
	close(l.wake)
	l.mu.Unlock()
	for _, c := range pending {
		_ = c.Close()
	}
	return nil
}
