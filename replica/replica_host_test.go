package replica

import (
	"bytes"
	"context"
	"io"
	"testing"
	"time"

	"github.com/blockrep/blockrep/checkpoint"
	"github.com/blockrep/blockrep/checkpoint/vfs"
	"github.com/blockrep/blockrep/delta"
	"github.com/blockrep/blockrep/transport"
	"github.com/blockrep/blockrep/transport/memory"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// rawPeer speaks the protocol to a ReplicaHost by hand.
type rawPeer struct {
	t     *testing.T
	ctx   context.Context
	net   *memory.Network
	store *checkpoint.DirStore
	auth  *transport.Authorizer
}

func newRawPeer(t *testing.T) *rawPeer {
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
		assert.ErrorIs(t, h.Serve(context.Background()), ErrClosed)
		l.Close()
		store.Close()
	})
	return &rawPeer{t: t, ctx: ctx, net: net, store: store, auth: auth}
}

func (p *rawPeer) dial(name string) transport.Conn {
	c, err := p.net.Endpoint(name).Dial(p.ctx, "r")
	require.NoError(p.t, err)
	p.t.Cleanup(func() { c.Close() })
	return c
}

func (p *rawPeer) send(c transport.Conn, m message) {
	require.NoError(p.t, sendMsg(p.ctx, c, m))
}

func (p *rawPeer) recv(c transport.Conn) message {
	m, _, err := recvMsg(p.ctx, c, nil)
	require.NoError(p.t, err)
	return m
}

// stream encodes a delta of vol's blocks in set from base to id.
func stream(t *testing.T, vol []byte, set []int64, base, id delta.PointID) []byte {
	g := delta.Geometry{Size: int64(len(vol)), BlockSize: 4096}
	s := delta.NewSet(g.Blocks())
	for _, b := range set {
		s.Add(b)
	}
	src, err := delta.NewSource([]io.ReaderAt{bytes.NewReader(vol)}, []delta.Geometry{g}, []*delta.Set{s})
	require.NoError(t, err)
	var buf bytes.Buffer
	enc, err := delta.NewEncoder(&buf, delta.Header{
		Group: "g1", Base: base, New: id, Time: time.Unix(1e9, 0), BlockSize: 4096,
		Volumes: []delta.VolumeInfo{{ID: "v", Size: int64(len(vol))}},
	})
	require.NoError(t, err)
	_, err = enc.Encode(context.Background(), src)
	require.NoError(t, err)
	return buf.Bytes()
}

// sendDelta announces and streams a delta. A replica that refuses the
// stream early closes the connection, so the error is returned, not
// checked: the verdict is what the test reads next.
func (p *rawPeer) sendDelta(c transport.Conn, base, id delta.PointID, data []byte) error {
	p.send(c, deltaStartMsg{Group: "g1", Base: base, New: id})
	w := transport.NewWriter(p.ctx, c, 1000)
	if _, err := w.Write(data); err != nil {
		return err
	}
	return w.Close()
}

func TestReplicaHostProtocol(t *testing.T) {
	p := newRawPeer(t)
	c := p.dial("p")
	p.send(c, helloMsg{Version: ProtocolVersion, Group: "g1"})
	assert.Equal(t, statusMsg{Version: ProtocolVersion, Group: "g1"}, p.recv(c))
	p.send(c, createGroupMsg{Group: "g1", BlockSize: 4096, Volumes: []delta.VolumeInfo{{ID: "v", Size: 16384}}})
	assert.Equal(t, ackMsg{Group: "g1"}, p.recv(c))

	vol := bytes.Repeat([]byte("abcdefgh"), 2048)
	p1 := delta.PointID{1}
	data := stream(t, vol, []int64{0, 1, 2, 3}, delta.PointID{}, p1)
	require.NoError(t, p.sendDelta(c, delta.PointID{}, p1, data))
	ack := p.recv(c).(ackMsg)
	assert.Equal(t, p1, ack.Point)
	assert.False(t, ack.Replayed)

	// The same delta again: acknowledged as a replay, applied once.
	require.NoError(t, p.sendDelta(c, delta.PointID{}, p1, data))
	again := p.recv(c).(ackMsg)
	assert.True(t, again.Replayed)
	assert.Equal(t, ack.Hash, again.Hash)
	g, err := p.store.Group(p.ctx, "g1")
	require.NoError(t, err)
	pts, err := g.Points(p.ctx)
	require.NoError(t, err)
	assert.Len(t, pts, 1)

	p.send(c, statusQueryMsg{Group: "g1"})
	st := p.recv(c).(statusMsg)
	assert.Equal(t, statusMsg{Version: ProtocolVersion, Group: "g1", Exists: true, State: Replicating, Latest: p1, Time: time.Unix(1e9, 0).UTC(), Points: 1}, st)

	// A corrupted stream is refused with its code; the connection ends and
	// nothing changes.
	vol[5] = 'X'
	p2 := delta.PointID{2}
	bad := stream(t, vol, []int64{0}, p1, p2)
	bad[len(bad)/2] ^= 0x40
	p.sendDelta(c, p1, p2, bad)
	nack := p.recv(c).(nackMsg)
	assert.Equal(t, CodeCorrupt, nack.Code)
	_, err = c.Recv(p.ctx, nil)
	assert.Error(t, err, "the replica closed the connection")
	pts, err = g.Points(p.ctx)
	require.NoError(t, err)
	assert.Equal(t, p1, pts[len(pts)-1].ID)

	// A delta on a base the replica does not have.
	c = p.dial("p")
	p.send(c, helloMsg{Version: ProtocolVersion, Group: "g1", Point: p1})
	p.recv(c)
	p.sendDelta(c, delta.PointID{7}, p2, stream(t, vol, []int64{0}, delta.PointID{7}, p2))
	assert.Equal(t, CodeBaseMismatch, p.recv(c).(nackMsg).Code)
}

func TestReplicaHostRefusals(t *testing.T) {
	p := newRawPeer(t)
	cases := []struct {
		name  string
		peer  string
		first message
		code  Code
	}{
		{"not hello", "p", statusQueryMsg{Group: "g1"}, CodeProtocol},
		{"version", "p", helloMsg{Version: 99, Group: "g1"}, CodeVersion},
		{"version after this one", "p", helloMsg{Version: ProtocolVersion + 1, Group: "g1"}, CodeVersion},
		{"version 0", "p", helloMsg{Version: 0, Group: "g1"}, CodeVersion},
		{"unauthorized peer", "x", helloMsg{Version: ProtocolVersion, Group: "g1"}, CodeUnauthorized},
		{"unauthorized group", "p", helloMsg{Version: ProtocolVersion, Group: "other"}, CodeUnauthorized},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := p.dial(tc.peer)
			p.send(c, tc.first)
			assert.Equal(t, tc.code, p.recv(c).(nackMsg).Code)
		})
	}
	t.Run("garbage frame", func(t *testing.T) {
		c := p.dial("p")
		require.NoError(t, c.Send(p.ctx, []byte{0xff, 1, 2}))
		assert.Equal(t, CodeProtocol, p.recv(c).(nackMsg).Code)
	})
	t.Run("unauthorized delta changes nothing", func(t *testing.T) {
		c := p.dial("x")
		p.send(c, helloMsg{Version: ProtocolVersion, Group: "g1"})
		assert.Equal(t, CodeUnauthorized, p.recv(c).(nackMsg).Code)
		p.sendDelta(c, delta.PointID{}, delta.PointID{1}, []byte("whatever"))
		assert.Equal(t, CodeUnauthorized, p.recv(c).(nackMsg).Code)
		groups, err := p.store.Groups(p.ctx)
		require.NoError(t, err)
		assert.Empty(t, groups)
	})
	t.Run("version 1 primary", func(t *testing.T) {
		// A primary of the version before data runs sends version 1
		// streams, which this replica reads; it may not switch versions on
		// the same connection.
		c := p.dial("p")
		p.send(c, helloMsg{Version: MinProtocolVersion, Group: "g9"})
		assert.Equal(t, statusMsg{Version: ProtocolVersion, Group: "g9"}, p.recv(c))
		p.send(c, helloMsg{Version: ProtocolVersion, Group: "g9"})
		assert.Equal(t, CodeVersion, p.recv(c).(nackMsg).Code)
	})
	t.Run("delta for unknown group", func(t *testing.T) {
		c := p.dial("p")
		p.send(c, helloMsg{Version: ProtocolVersion, Group: "g9"})
		assert.Equal(t, statusMsg{Version: ProtocolVersion, Group: "g9"}, p.recv(c))
		p.sendDelta(c, delta.PointID{}, delta.PointID{1}, []byte("whatever"))
		assert.Equal(t, CodeUnknownGroup, p.recv(c).(nackMsg).Code)
	})
}

func TestReplicaHostBoundsConnections(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	net, err := memory.NewNetwork(4)
	require.NoError(t, err)
	store, err := checkpoint.Open(vfs.NewMem(), "s")
	require.NoError(t, err)
	defer store.Close()
	auth, err := transport.NewAuthorizer([]transport.AuthEntry{{Peer: "p", Group: "*", Storage: "."}})
	require.NoError(t, err)
	l, err := net.Endpoint("r").Listen(ctx, "r")
	require.NoError(t, err)
	defer l.Close()
	h, err := NewReplicaHost(ReplicaConfig{Listener: l, Store: store, Authorizer: auth, MaxConnections: 1})
	require.NoError(t, err)
	done := make(chan error, 1)
	go func() { done <- h.Serve(ctx) }()

	first, err := net.Endpoint("p").Dial(ctx, "r")
	require.NoError(t, err)
	defer first.Close()
	require.NoError(t, sendMsg(ctx, first, helloMsg{Version: ProtocolVersion, Group: "g"}))
	_, _, err = expectReply[statusMsg](ctx, first, nil)
	require.NoError(t, err, "the first connection is served")

	second, err := net.Endpoint("p").Dial(ctx, "r")
	require.NoError(t, err)
	defer second.Close()
	_, err = second.Recv(ctx, nil)
	assert.Error(t, err, "the second connection is closed at once")
	assert.ErrorIs(t, h.Serve(ctx), ErrRunning)

	cancel()
	require.NoError(t, <-done)
	_, err = first.Recv(context.Background(), nil)
	assert.Error(t, err, "Serve closed the served connection on its way out")
}
