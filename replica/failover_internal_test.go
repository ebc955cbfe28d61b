package replica

import (
	"bytes"
	"context"
	"runtime"
	"testing"

	"github.com/blockrep/blockrep/checkpoint"
	"github.com/blockrep/blockrep/checkpoint/vfs"
	"github.com/blockrep/blockrep/delta"
	"github.com/blockrep/blockrep/transport"
	"github.com/blockrep/blockrep/transport/memory"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// newFailoverPeer is a rawPeer whose ReplicaHost the test can fail over;
// group g1 (one 16 KiB volume) holds point {1}.
func newFailoverPeer(t *testing.T) (*rawPeer, *ReplicaHost, []byte) {
	ctx, cancel := context.WithCancel(context.Background())
	net, err := memory.NewNetwork(3)
	require.NoError(t, err)
	store, err := checkpoint.Open(vfs.NewMem(), "s")
	require.NoError(t, err)
	auth, err := transport.NewAuthorizer([]transport.AuthEntry{{Peer: "p", Group: "g*", Storage: "."}})
	require.NoError(t, err)
	l, err := net.Endpoint("r").Listen(ctx, "r")
	require.NoError(t, err)
	h, err := NewReplicaHost(ReplicaConfig{Listener: l, Store: store, Authorizer: auth})
	require.NoError(t, err)
	done := make(chan error, 1)
	go func() { done <- h.Serve(ctx) }()
	t.Cleanup(func() {
		cancel()
		require.NoError(t, <-done)
		require.NoError(t, h.Close())
		l.Close()
		store.Close()
	})
	p := &rawPeer{t: t, ctx: ctx, net: net, store: store, auth: auth}
	c := p.dial("p")
	p.send(c, helloMsg{Version: ProtocolVersion, Group: "g1"})
	p.recv(c)
	p.send(c, createGroupMsg{Group: "g1", BlockSize: 4096, Volumes: []delta.VolumeInfo{{ID: "v", Size: 16384}}})
	require.Equal(t, ackMsg{Group: "g1"}, p.recv(c))
	vol := bytes.Repeat([]byte("abcdefgh"), 2048)
	require.NoError(t, p.sendDelta(c, delta.PointID{}, delta.PointID{1}, stream(t, vol, []int64{0, 1, 2, 3}, delta.PointID{}, delta.PointID{1})))
	require.IsType(t, ackMsg{}, p.recv(c))
	return p, h, vol
}

func (p *rawPeer) chain() []checkpoint.Point {
	g, err := p.store.Group(p.ctx, "g1")
	require.NoError(p.t, err)
	pts, err := g.Points(p.ctx)
	require.NoError(p.t, err)
	return pts
}

// A delta sent to a group that is failed over — waiting for completion or
// completed — is refused with CodeStateConflict and changes nothing, even
// when its base is the group's latest point.
func TestFailedOverRefusesDeltas(t *testing.T) {
	p, h, vol := newFailoverPeer(t)
	f, err := h.Failover(p.ctx, "g1", SelectLatest)
	require.NoError(t, err)
	_, err = f.Volumes()[0].WriteAt([]byte("failover"), 100)
	require.NoError(t, err)

	refused := func(base delta.PointID, state State) {
		t.Helper()
		before := p.chain()
		c := p.dial("p")
		p.send(c, helloMsg{Version: ProtocolVersion, Group: "g1", Point: delta.PointID{1}})
		st := p.recv(c).(statusMsg)
		assert.Equal(t, state, st.State)
		vol[0] ^= 0xff
		p.sendDelta(c, base, delta.PointID{9}, stream(t, vol, []int64{0}, base, delta.PointID{9}))
		nack := p.recv(c).(nackMsg)
		assert.Equal(t, CodeStateConflict, nack.Code)
		assert.ErrorIs(t, &RemoteError{Code: nack.Code, Message: nack.Message}, ErrInvalidState)
		assert.Equal(t, before, p.chain())
	}
	refused(delta.PointID{1}, FailedOverWaitingCompletion)

	require.NoError(t, h.CompleteFailover(p.ctx, "g1"))
	pts := p.chain()
	require.Len(t, pts, 1)
	assert.Equal(t, delta.PointID{1}, pts[0].Base)
	refused(pts[0].ID, FailedOver)
}

// A failover waits for the delta being applied; cancelled while it waits,
// it leaves the group Replicating, and once the apply ends it goes ahead.
// No delta starts while it waits.
func TestFailoverWaitsForApply(t *testing.T) {
	p, h, _ := newFailoverPeer(t)
	done, err := h.beginApply("g1")
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(p.ctx)
	cancel()
	_, err = h.Failover(ctx, "g1", SelectLatest)
	assert.ErrorIs(t, err, context.Canceled)
	assert.Equal(t, Replicating, h.groupState("g1"))

	result := make(chan error, 1)
	go func() {
		_, err := h.Failover(p.ctx, "g1", SelectLatest)
		result <- err
	}()
	// Once the failover has claimed the group, no new apply is admitted,
	// and it cannot finish while the apply in flight runs.
	for h.groupState("g1") != FailedOverWaitingCompletion {
		runtime.Gosched()
	}
	_, err = h.beginApply("g1")
	var serr *StateError
	require.ErrorAs(t, err, &serr)
	assert.Equal(t, FailedOverWaitingCompletion, serr.From)
	select {
	case err := <-result:
		t.Fatalf("failover ended during an apply: %v", err)
	default:
	}
	g, err := p.store.Group(p.ctx, "g1")
	require.NoError(t, err)
	clones, err := g.Clones(p.ctx)
	require.NoError(t, err)
	assert.Empty(t, clones, "no image is made before the apply ends")
	done()
	require.NoError(t, <-result)
	assert.Equal(t, FailedOverWaitingCompletion, h.groupState("g1"))
	require.NoError(t, h.CancelFailover(p.ctx, "g1"))
	done, err = h.beginApply("g1")
	require.NoError(t, err)
	done()
}

// Calls after Close return ErrClosed.
func TestFailoverAfterClose(t *testing.T) {
	p, h, _ := newFailoverPeer(t)
	_, err := h.StartTestFailover(p.ctx, "g1", SelectLatest)
	require.NoError(t, err)
	require.NoError(t, h.Close())
	_, err = h.Failover(p.ctx, "g1", SelectLatest)
	assert.ErrorIs(t, err, ErrClosed)
	_, err = h.StartTestFailover(p.ctx, "g1", SelectLatest)
	assert.ErrorIs(t, err, ErrClosed)
	assert.ErrorIs(t, h.CompleteFailover(p.ctx, "g1"), ErrClosed)
	assert.ErrorIs(t, h.CancelFailover(p.ctx, "g1"), ErrClosed)
	assert.ErrorIs(t, h.StopTestFailover(p.ctx, "g1"), ErrClosed)
	// The store keeps the clone (and its pin) left by the closed host;
	// the next host on the store finds the test failover running.
	g, err := p.store.Group(p.ctx, "g1")
	require.NoError(t, err)
	clones, err := g.Clones(p.ctx)
	require.NoError(t, err)
	assert.Equal(t, []string{testFailoverClone}, clones)
	l, err := p.net.Endpoint("r2").Listen(p.ctx, "r2")
	require.NoError(t, err)
	defer l.Close()
	h2, err := NewReplicaHost(ReplicaConfig{Listener: l, Store: p.store, Authorizer: p.auth})
	require.NoError(t, err)
	_, err = h2.StartTestFailover(p.ctx, "g1", SelectLatest)
	require.ErrorIs(t, err, ErrTestFailoverRunning)
	tf, err := h2.ActiveTestFailover("g1")
	require.NoError(t, err)
	require.NoError(t, h2.StopTestFailover(p.ctx, "g1"))
	_, err = tf.Volumes()[0].ReadAt(make([]byte, 4), 0)
	assert.ErrorIs(t, err, ErrFailoverEnded)
	pins, err := g.Pins(p.ctx)
	require.NoError(t, err)
	assert.Empty(t, pins)
	clones, err = g.Clones(p.ctx)
	require.NoError(t, err)
	assert.Empty(t, clones)
}
