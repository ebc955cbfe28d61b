package replica_test

import (
	"bytes"
	"context"
	"io"
	"sync/atomic"
	"testing"
	"time"

	"github.com/blockrep/blockrep/checkpoint"
	"github.com/blockrep/blockrep/checkpoint/vfs"
	"github.com/blockrep/blockrep/delta"
	"github.com/blockrep/blockrep/replica"
	"github.com/blockrep/blockrep/transport"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// heldApplyStore holds, when armed, the next apply of a group on an
// extended replica: it reads the whole stream, reports it on streamed,
// and commits only once the following apply starts, just before that one.
// So a delta whose forward gave up waiting commits after the forwarder
// read the extended replica's status again.
type heldApplyStore struct {
	checkpoint.Store
	s *heldApply
}

type heldApply struct {
	armed    atomic.Bool
	held     atomic.Pointer[chan struct{}] // closed to let the held apply commit
	streamed chan struct{}
	applied  chan error
}

func (s heldApplyStore) Group(ctx context.Context, id string) (checkpoint.Group, error) {
	g, err := s.Store.Group(ctx, id)
	if err != nil {
		return nil, err
	}
	return heldApplyGroup{Group: g, s: s.s}, nil
}

type heldApplyGroup struct {
	checkpoint.Group
	s *heldApply
}

func (g heldApplyGroup) Apply(ctx context.Context, r io.Reader) (checkpoint.ApplyResult, error) {
	if g.s.armed.CompareAndSwap(true, false) {
		b, err := io.ReadAll(r)
		if err != nil {
			return checkpoint.ApplyResult{}, err
		}
		release := make(chan struct{})
		g.s.held.Store(&release)
		close(g.s.streamed)
		<-release
		res, err := g.Group.Apply(context.WithoutCancel(ctx), bytes.NewReader(b))
		g.s.applied <- err
		return res, err
	}
	if release := g.s.held.Swap(nil); release != nil {
		close(*release)
		if err := <-g.s.applied; err != nil {
			return checkpoint.ApplyResult{}, err
		}
	}
	return g.Group.Apply(ctx, r)
}

// Found by the simulation (replicasim TestInDoubtForwardUnpinned): a
// forward whose whole stream went out but whose verdict never came is in
// doubt — the extended replica may still commit its point. The next
// forward, reading the extended replica still at the previous point, kept
// only that base pinned, and retention pruned the point in doubt; when it
// then committed, the extended replica stood on a point this replica no
// longer had, and the next forward had to compare hash trees (invariant 7:
// pruning never removes a point a downstream hop still needs). The point
// in doubt now stays pinned until the extended replica's status shows
// where it is, and the next forward carries on from it with a delta —
// also when the forwarding host restarted in between (what the simulation
// found: the restarted extension's first forward released the point).
func TestForwardInDoubtKeepsItsPointRegression(t *testing.T) {
	for _, restart := range []bool{false, true} {
		name := "in process"
		if restart {
			name = "after a restart"
		}
		t.Run(name, func(t *testing.T) { testForwardInDoubt(t, restart) })
	}
}

func testForwardInDoubt(t *testing.T, restart bool) {
	c := newChain(t, checkpoint.Retention{}) // the replica keeps its latest point only
	hold := &heldApply{streamed: make(chan struct{}), applied: make(chan error, 1)}
	ext := &hop{t: t, ctx: c.ctx, clk: c.clk, net: c.net, name: "ext", addr: "ext:1", allow: "replica", fs: vfs.NewMem(), fwd: make(chan replica.ForwardEvent, 64)}
	var err error
	ext.l, err = c.net.Endpoint("ext").Listen(c.ctx, ext.addr)
	require.NoError(t, err)
	ext.store, err = checkpoint.Open(ext.fs, "store", checkpoint.WithClock(c.clk.Now))
	require.NoError(t, err)
	auth, err := transport.NewAuthorizer([]transport.AuthEntry{{Peer: "replica", Group: "*", Storage: "."}})
	require.NoError(t, err)
	ext.host, err = replica.NewReplicaHost(replica.ReplicaConfig{Listener: ext.l, Store: heldApplyStore{Store: ext.store, s: hold}, Authorizer: auth, Clock: c.clk})
	require.NoError(t, err)
	ext.serve()
	t.Cleanup(ext.close)

	c.b.extend("vm", ext, replica.Frequency5m, checkpoint.Retention{})
	first := c.b.forwarded()
	require.NoError(t, first.Err)
	p1 := first.Result.Point

	// The forward of p2 gives up once its stream is out; the extended
	// replica holds the apply.
	p2 := c.cycle(10).Point
	hold.armed.Store(true)
	fctx, cancel := context.WithCancel(c.ctx)
	go func() {
		select {
		case <-hold.streamed:
		case <-time.After(30 * time.Second):
		}
		cancel()
	}()
	_, err = c.b.host.ForwardNow(fctx, "vm")
	<-c.b.fwd
	require.ErrorIs(t, err, context.Canceled)
	require.False(t, hold.armed.Load(), "the extended replica received the whole stream of p2")
	assert.Equal(t, p1, ext.latest("vm"), "p2 not committed yet")
	assert.Equal(t, []delta.PointID{p1, p2}, c.b.pins("vm"), "the base and the point in doubt")

	// The next forward reads the extended replica at p1 and sends p3 on
	// it; p2 commits first, so p3's delta is refused.
	p3 := c.cycle(10).Point
	if restart {
		// The restarted host finds both pins; its loop forwards at once.
		c.b.stop()
		c.b.start(true)
		c.b.extend("vm", ext, replica.Frequency5m, checkpoint.Retention{})
		c.b.serve()
		err = c.b.forwarded().Err
	} else {
		_, err = c.b.host.ForwardNow(c.ctx, "vm")
		<-c.b.fwd
	}
	var remote *replica.RemoteError
	require.ErrorAs(t, err, &remote, "p3's delta on p1 is refused: the extended replica is at p2")
	require.Equal(t, p2, ext.latest("vm"))
	assert.Equal(t, []delta.PointID{p1, p2, p3}, ids(c.b.points("vm")), "p2, which the extended replica has, is kept; p1 goes with the next forward")
	assert.Equal(t, []delta.PointID{p1, p2, p3}, c.b.pins("vm"), "p1 and the refused p3 are released by the next forward")

	// The next forward finds the extended replica at p2 and sends p3 as
	// a delta on it; no hash comparison.
	res, err := c.b.host.ForwardNow(c.ctx, "vm")
	<-c.b.fwd
	require.NoError(t, err)
	assert.Equal(t, p2, res.Base)
	assert.Equal(t, p3, res.Point)
	assert.False(t, res.Resync)
	assert.Equal(t, 1, res.Points)
	assert.Equal(t, p3, ext.latest("vm"))
	sameImages(t, c.b, ext, "vm", p3)
	assert.Equal(t, []delta.PointID{p3}, c.b.pins("vm"))
	assert.Equal(t, []delta.PointID{p3}, ids(c.b.points("vm")))
}
