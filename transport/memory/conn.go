package memory

import (
	"context"
	"fmt"
	"sync"

	"github.com/blockrep/blockrep/transport"
)

// Conn is one end of an in-memory connection; it implements
// transport.Conn.
//
// Close semantics: after Close, this end's Send and Recv return ErrClosed;
// the other end reads the frames already sent and then io.EOF, and its Send
// returns ErrConnectionLost. A cut connection (a partition, a Faults cut)
// gives ErrConnectionLost on both ends once the frames already buffered
// have been read. A Send or Recv whose ctx is done returns ctx's error and
// closes the connection.
type Conn struct {
	net                   *Network
	id                    uint64
	local, remote         string // endpoint names
	localAddr, remoteAddr string
	out, in               *half
	peerConn              *Conn
	closeOnce             sync.Once
}

var _ transport.Conn = (*Conn)(nil)

// ID numbers the connection within its network, from 1 in dial order; both
// ends report the same ID.
func (c *Conn) ID() uint64 { return c.id }

// SetFaults applies f to the frames this end sends, instead of the
// network's faults for the route. The zero Faults restores the network's.
func (c *Conn) SetFaults(f Faults) {
	if f.zero() {
		c.out.override.Store(nil)
		return
	}
	c.out.override.Store(&f)
}

// Send queues msg for the peer, blocking while the connection's window is
// full.
func (c *Conn) Send(ctx context.Context, msg []byte) error {
	if err := ctx.Err(); err != nil {
		_ = c.Close()
		return fmt.Errorf("memory: send to %s: %w", c.remote, err)
	}
	err := c.out.send(ctx, msg)
	if err != nil && ctx.Err() != nil && err == ctx.Err() {
		_ = c.Close()
		return fmt.Errorf("memory: send to %s: %w", c.remote, err)
	}
	return err
}

// Recv returns the next frame from the peer.
func (c *Conn) Recv(ctx context.Context, buf []byte) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		_ = c.Close()
		return nil, fmt.Errorf("memory: recv from %s: %w", c.remote, err)
	}
	b, err := c.in.recv(ctx, buf)
	if err != nil && ctx.Err() != nil && err == ctx.Err() {
		_ = c.Close()
		return nil, fmt.Errorf("memory: recv from %s: %w", c.remote, err)
	}
	return b, err
}

// Peer returns the other endpoint's name, authenticated.
func (c *Conn) Peer() transport.Identity {
	return transport.Identity{Name: c.remote, Authenticated: true}
}

// LocalAddr returns this end's address: the endpoint name for a dialer,
// the listening address for an accepted connection.
func (c *Conn) LocalAddr() string { return c.localAddr }

// RemoteAddr returns the other end's address.
func (c *Conn) RemoteAddr() string { return c.remoteAddr }

// Close closes this end. It is idempotent.
func (c *Conn) Close() error {
	c.closeOnce.Do(func() {
		c.out.closeWriter()
		c.in.closeReader()
		c.net.forget(c)
		c.net.forget(c.peerConn)
	})
	return nil
}

// cut breaks the connection in both directions.
func (c *Conn) cut() {
	c.out.cut()
	c.in.cut()
}

// Readable reports whether Recv would return a frame at once: one is
// buffered toward this end and its delay, if any, has passed.
func (c *Conn) Readable() bool { return c.in.readable() }

// Buffered returns the payload bytes buffered toward this end, delayed
// frames included.
func (c *Conn) Buffered() int {
	c.in.mu.Lock()
	defer c.in.mu.Unlock()
	return c.in.queued
}
