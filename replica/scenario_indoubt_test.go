package replica_test

import (
	"bytes"
	"context"
	"io"
	"math/rand/v2"
	"sync/atomic"
	"testing"
	"time"

	"github.com/blockrep/blockrep/checkpoint"
	"github.com/blockrep/blockrep/replica"
	"github.com/blockrep/blockrep/transport"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// slowApply is a replica store whose next Apply, once armed, reads the
// whole stream, reports it received, and commits only when released: an
// apply still in flight on a connection its primary gave up on.
type slowApply struct {
	checkpoint.Store
	armed    atomic.Bool
	received chan struct{} // closed once the armed Apply read its stream
	release  chan struct{} // closed by the test to let it commit
	applied  chan struct{} // closed once it committed
}

func newSlowApply(s checkpoint.Store) *slowApply {
	return &slowApply{Store: s, received: make(chan struct{}), release: make(chan struct{}), applied: make(chan struct{})}
}

func (s *slowApply) Group(ctx context.Context, id string) (checkpoint.Group, error) {
	g, err := s.Store.Group(ctx, id)
	if err != nil {
		return nil, err
	}
	return &slowApplyGroup{Group: g, s: s}, nil
}

type slowApplyGroup struct {
	checkpoint.Group
	s *slowApply
}

func (g *slowApplyGroup) Apply(ctx context.Context, r io.Reader) (checkpoint.ApplyResult, error) {
	if !g.s.armed.CompareAndSwap(true, false) {
		return g.Group.Apply(ctx, r)
	}
	b, err := io.ReadAll(r)
	close(g.s.received)
	if err != nil {
		close(g.s.applied)
		return checkpoint.ApplyResult{}, err
	}
	select {
	case <-g.s.release:
	case <-time.After(30 * time.Second): // a guard against a hung test, not a wait
	}
	res, err := g.Group.Apply(context.WithoutCancel(ctx), bytes.NewReader(b))
	close(g.s.applied)
	return res, err
}

// lateAckTransport makes the primary give up on its first delta once armed
// (its connection is lost while the replica holds the whole stream), and
// lets the replica commit that delta just before the next DeltaStart goes
// out, after the next connection's Status showed the old point.
type lateAckTransport struct {
	transport.Transport
	s     *slowApply
	phase atomic.Int32 // 1 armed; 2 first delta given up; 3 the old apply committed
}

func (t *lateAckTransport) Dial(ctx context.Context, addr string) (transport.Conn, error) {
	c, err := t.Transport.Dial(ctx, addr)
	if err != nil {
		return nil, err
	}
	return &lateAckConn{Conn: c, t: t}, nil
}

type lateAckConn struct {
	transport.Conn
	t    *lateAckTransport
	held atomic.Bool // this connection carries the delta given up on
}

func (c *lateAckConn) Send(ctx context.Context, msg []byte) error {
	if len(msg) > 0 && msg[0] == wireDeltaStart {
		switch {
		case c.t.phase.CompareAndSwap(1, 2):
			c.held.Store(true)
		case c.t.phase.CompareAndSwap(2, 3):
			close(c.t.s.release)
			select {
			case <-c.t.s.applied:
			case <-ctx.Done():
				return ctx.Err()
			}
		}
	}
	return c.Conn.Send(ctx, msg)
}

func (c *lateAckConn) Recv(ctx context.Context, buf []byte) ([]byte, error) {
	if c.held.Load() {
		select {
		case <-c.t.s.received:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		c.Conn.Close()
		return nil, transport.ErrConnectionLost
	}
	return c.Conn.Recv(ctx, buf)
}

// TestLostAckOfEarlierAttemptRegression: the primary gives up on delta A
// (its Ack is lost) while the replica still applies it; the next cycle's
// Status shows the old point, so it sends B on that base, and the replica,
// having committed A meanwhile, refuses B. A is one of the primary's points
// whose acknowledgement is in doubt: the following cycle builds on it
// instead of declaring the replica at an unknown point (which made the
// relationship ResynchronizationRequired), and the replica ends with the
// primary's content byte for byte.
func TestLostAckOfEarlierAttemptRegression(t *testing.T) {
	var slow *slowApply
	lt := &lateAckTransport{}
	e := newEnv(t, withStoreWrapper(func(s checkpoint.Store) checkpoint.Store {
		slow = newSlowApply(s)
		return slow
	}), withPrimaryTransport(func(tr transport.Transport) transport.Transport {
		lt.Transport = tr
		return lt
	}))
	lt.s = slow
	seed := uint64(7)
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 0))
	write := func(rel *replica.Relationship) {
		buf := make([]byte, 4096)
		for i := range buf {
			buf[i] = byte(rng.IntN(256))
		}
		_, err := rel.Volume(0).WriteAt(buf, int64(rng.IntN(60))*4096)
		require.NoError(t, err)
	}

	cfg, vols := groupConfig("vm1", 256<<10, 1)
	rel, err := e.primary.Enable(e.ctx, cfg)
	require.NoError(t, err)
	write(rel)
	first, err := rel.InitialReplication(e.ctx)
	require.NoError(t, err)
	e.event()

	write(rel)
	slow.armed.Store(true)
	lt.phase.Store(1)
	_, err = rel.Cycle(e.ctx) // A: the replica has the stream, the primary loses its Ack
	require.ErrorIs(t, err, transport.ErrConnectionLost)
	require.Error(t, e.event().Err)
	require.Equal(t, int32(2), lt.phase.Load())
	require.Equal(t, first.Point, e.points("vm1")[0].ID, "A is not committed yet")

	write(rel)
	_, err = rel.Cycle(e.ctx) // B on the first point; A commits just before it
	var remote *replica.RemoteError
	require.ErrorAs(t, err, &remote)
	assert.Equal(t, replica.CodeBaseMismatch, remote.Code)
	require.Error(t, e.event().Err)
	require.Equal(t, int32(3), lt.phase.Load())
	pts := e.points("vm1")
	require.Len(t, pts, 1)
	a := pts[0].ID
	require.NotEqual(t, first.Point, a, "the replica committed A")
	assert.Equal(t, replica.Replicating, rel.State())

	write(rel)
	want := vols[0].snapshot()
	res, err := rel.Cycle(e.ctx)
	require.NoError(t, err, "the replica is at A, a point this primary sent")
	require.NoError(t, e.event().Err)
	assert.Equal(t, replica.Replicating, rel.State())
	assert.Equal(t, a, res.Base)
	assert.Equal(t, [][]byte{want}, e.pointImages("vm1", res.Point))
}
