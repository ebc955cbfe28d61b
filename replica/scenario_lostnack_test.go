package replica_test

import (
	"context"
	"sync/atomic"
	"testing"

	"github.com/blockrep/blockrep/replica"
	"github.com/blockrep/blockrep/transport"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Wire bytes of the protocol's message types (see protocol.go); the test
// lives outside the package, so it names them here.
const (
	wireDeltaStart = 5
	wireNack       = 7
)

// nackLosingTransport dials connections on which a Nack that answers a
// DeltaStart never arrives: the connection reads as lost instead, as a TCP
// reset does when the replica hangs up on a stream it refused.
type nackLosingTransport struct {
	transport.Transport
	lost atomic.Int32 // Nacks turned into lost connections
}

func (t *nackLosingTransport) Dial(ctx context.Context, addr string) (transport.Conn, error) {
	c, err := t.Transport.Dial(ctx, addr)
	if err != nil {
		return nil, err
	}
	return &nackLosingConn{Conn: c, t: t}, nil
}

type nackLosingConn struct {
	transport.Conn
	t     *nackLosingTransport
	delta atomic.Bool // a DeltaStart went out
}

func (c *nackLosingConn) Send(ctx context.Context, msg []byte) error {
	if len(msg) > 0 && msg[0] == wireDeltaStart {
		c.delta.Store(true)
	}
	return c.Conn.Send(ctx, msg)
}

func (c *nackLosingConn) Recv(ctx context.Context, buf []byte) ([]byte, error) {
	b, err := c.Conn.Recv(ctx, buf)
	if err == nil && len(b) > 0 && b[0] == wireNack && c.delta.Load() {
		c.t.lost.Add(1)
		c.Conn.Close()
		return nil, transport.ErrConnectionLost
	}
	return b, err
}

// A replica that refuses a delta because the group is failed over there
// hangs up after its Nack; when the hang-up destroys the Nack on the way
// (a reset over TCP), the primary still reports ErrReplicaFailedOver — read
// from a new connection's status — and not a lost connection, and the
// replica's chain is untouched.
func TestRefusalLostWithTheConnection(t *testing.T) {
	lt := &nackLosingTransport{}
	f := newFailoverEnv(t, 64<<10, 3, withPrimaryTransport(func(tr transport.Transport) transport.Transport {
		lt.Transport = tr
		return lt
	}))
	f.cycle()
	_, err := f.replica.Failover(f.ctx, "vm1", replica.SelectLatest)
	require.NoError(t, err)
	before := f.points("vm1")

	f.write(4)
	_, err = f.rel.Cycle(f.ctx)
	f.event()
	require.Equal(t, int32(1), lt.lost.Load(), "the Nack was lost, so the refusal came back through a status")
	assert.ErrorIs(t, err, replica.ErrReplicaFailedOver)
	assert.ErrorIs(t, err, replica.ErrInvalidState)
	assert.ErrorIs(t, err, transport.ErrConnectionLost, "the transport error stays wrapped")
	assert.Equal(t, replica.Replicating, f.rel.State())
	assert.Equal(t, before, f.points("vm1"))
	assert.Positive(t, f.rel.Stats().PendingBytes, "the refused blocks are still dirty")

	// After the failover is cancelled the next cycle sends them.
	require.NoError(t, f.replica.CancelFailover(f.ctx, "vm1"))
	res := f.cycle()
	assert.Equal(t, f.snaps[res.Point], f.pointImages("vm1", res.Point))
}
