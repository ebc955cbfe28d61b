package main

import (
	"context"
	"sync/atomic"

	"github.com/blockrep/blockrep/transport"
)

// countingTransport counts the bytes its connections send, for
// "sync --progress": report is called after every frame with the total.
type countingTransport struct {
	transport.Transport
	sent   atomic.Int64
	report func(total int64)
}

func (t *countingTransport) Dial(ctx context.Context, addr string) (transport.Conn, error) {
	c, err := t.Transport.Dial(ctx, addr)
	if err != nil {
		return nil, err
	}
	return &countingConn{Conn: c, t: t}, nil
}

type countingConn struct {
	transport.Conn
	t *countingTransport
}

func (c *countingConn) Send(ctx context.Context, msg []byte) error {
	if err := c.Conn.Send(ctx, msg); err != nil {
		return err
	}
	total := c.t.sent.Add(int64(len(msg)))
	if c.t.report != nil {
		c.t.report(total)
	}
	return nil
}

// Unwrap keeps the wrapped connection's capabilities reachable
// (transport.AsConn).
func (c *countingConn) Unwrap() transport.Conn { return c.Conn }
