package replica_test

import (
	"context"
	"errors"
	"sync"
	"testing"

	"github.com/blockrep/blockrep/replica"
	"github.com/blockrep/blockrep/transport"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Wire bytes of two more message types (see protocol.go, protocol_roles.go).
const (
	wireAck     = 6
	wirePromote = 24
)

// dupAckTransport dials connections that, once armed, deliver every Ack
// twice and never send a Promote (as a network that duplicates and loses
// frames would): the replica is not promoted, and a duplicated delta Ack
// waits where the promotion's answer is expected.
type dupAckTransport struct {
	transport.Transport
	mu    sync.Mutex
	armed bool
}

func (t *dupAckTransport) arm() { t.mu.Lock(); t.armed = true; t.mu.Unlock() }

func (t *dupAckTransport) on() bool { t.mu.Lock(); defer t.mu.Unlock(); return t.armed }

func (t *dupAckTransport) Dial(ctx context.Context, addr string) (transport.Conn, error) {
	c, err := t.Transport.Dial(ctx, addr)
	if err != nil {
		return nil, err
	}
	return &dupAckConn{Conn: c, t: t}, nil
}

type dupAckConn struct {
	transport.Conn
	t    *dupAckTransport
	next []byte // a copy to deliver at the next Recv
}

func (c *dupAckConn) Send(ctx context.Context, msg []byte) error {
	if c.t.on() && len(msg) > 0 && msg[0] == wirePromote {
		return nil // lost on the way
	}
	return c.Conn.Send(ctx, msg)
}

func (c *dupAckConn) Recv(ctx context.Context, buf []byte) ([]byte, error) {
	if c.next != nil {
		b := c.next
		c.next = nil
		return b, nil
	}
	b, err := c.Conn.Recv(ctx, buf)
	if err == nil && c.t.on() && len(b) > 0 && b[0] == wireAck {
		c.next = append([]byte(nil), b...)
	}
	return b, err
}

// A planned failover whose Promote is lost while the final cycle's Ack
// arrives twice must not take that Ack for the promotion: found by the
// simulation (seed 5018663), where PlannedFailover reported success and
// the replica was never promoted. The promotion has an answer of its own
// type, so the duplicate is a protocol error, the relationship goes back
// to Replicating with writes allowed, and the replica is not promoted;
// once the network behaves, the planned failover goes through.
func TestDuplicatedAckIsNoPromotion(t *testing.T) {
	dt := &dupAckTransport{}
	f := newFailoverEnv(t, 64<<10, 3, withPrimaryTransport(func(tr transport.Transport) transport.Transport {
		dt.Transport = tr
		return dt
	}))
	f.cycle()
	f.write(3)
	dt.arm()
	_, err := f.rel.PlannedFailover(f.ctx)
	require.Error(t, err)
	assert.ErrorIs(t, err, replica.ErrProtocol)
	assert.Equal(t, replica.Replicating, f.rel.State())
	_, werr := f.rel.Volume(0).WriteAt([]byte{1}, 0)
	assert.False(t, errors.Is(werr, replica.ErrPreparedForFailover), "writes are allowed again: %v", werr)
	g, err := f.replica.Group(f.ctx, "vm1")
	require.NoError(t, err)
	assert.Equal(t, replica.Replicating, g.State, "the replica was not promoted")

	dt.mu.Lock()
	dt.armed = false
	dt.mu.Unlock()
	res, err := f.rel.PlannedFailover(f.ctx)
	require.NoError(t, err)
	assert.Equal(t, replica.PreparedForFailover, f.rel.State())
	g, err = f.replica.Group(f.ctx, "vm1")
	require.NoError(t, err)
	assert.Equal(t, replica.FailedOver, g.State)
	assert.Equal(t, res.Point, g.Points[len(g.Points)-1].ID)
}
