package replica

import (
	"context"
	"errors"
	"testing"

	"github.com/blockrep/blockrep/checkpoint"
	"github.com/blockrep/blockrep/checkpoint/vfs"
	"github.com/blockrep/blockrep/delta"
	"github.com/blockrep/blockrep/transport"
	"github.com/blockrep/blockrep/transport/memory"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// byteVolume is a fixed-size volume in memory for internal tests.
type byteVolume []byte

func (v byteVolume) ReadAt(p []byte, off int64) (int, error) { return copy(p, v[off:]), nil }
func (v byteVolume) WriteAt(p []byte, off int64) (int, error) {
	return copy(v[off:], p), nil
}

// A replica answers resync queries that do not fit its group's tree with
// the Nack code that says why, keeps the connection open, and answers a
// good query with exactly the nodes of its tree; an unauthorized peer gets
// nothing.
func TestResyncQueryRefusals(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	net, err := memory.NewNetwork(1)
	require.NoError(t, err)
	store, err := checkpoint.Open(vfs.NewMem(), "store")
	require.NoError(t, err)
	defer store.Close()
	auth, err := transport.NewAuthorizer([]transport.AuthEntry{{Peer: "primary", Group: "vm1", Storage: "."}})
	require.NoError(t, err)
	l, err := net.Endpoint("replica").Listen(ctx, "replica:1")
	require.NoError(t, err)
	defer l.Close()
	rh, err := NewReplicaHost(ReplicaConfig{Listener: l, Store: store, Authorizer: auth})
	require.NoError(t, err)
	served := make(chan error, 1)
	go func() { served <- rh.Serve(ctx) }()
	defer func() { cancel(); require.NoError(t, <-served) }()

	ph, err := NewPrimaryHost(PrimaryConfig{Transport: net.Endpoint("primary")})
	require.NoError(t, err)
	defer ph.Close()
	vol := make(byteVolume, 64*4096)
	for i := range vol {
		vol[i] = byte(i * 7 / 4096)
	}
	rel, err := ph.Enable(ctx, GroupConfig{ID: "vm1", Replica: "replica:1", BlockSize: 4096,
		Volumes: []VolumeConfig{{Name: "d", Volume: vol, Size: int64(len(vol))}}})
	require.NoError(t, err)
	first, err := rel.InitialReplication(ctx)
	require.NoError(t, err)

	list, err := delta.HashVolume(ctx, vol, delta.Geometry{Size: int64(len(vol)), BlockSize: 4096})
	require.NoError(t, err)
	tree, err := delta.NewHashTree(list, 4)
	require.NoError(t, err)
	setOf := func(width int64, members ...int64) []byte {
		s := delta.NewSet(width)
		for _, m := range members {
			s.Add(m)
		}
		b, err := s.AppendBinary(nil)
		require.NoError(t, err)
		return b
	}

	conn, err := net.Endpoint("primary").Dial(ctx, "replica:1")
	require.NoError(t, err)
	defer conn.Close()
	require.NoError(t, sendMsg(ctx, conn, helloMsg{Version: ProtocolVersion, Group: "vm1"}))
	_, _, err = expectReply[statusMsg](ctx, conn, nil)
	require.NoError(t, err)

	good := resyncQueryMsg{Group: "vm1", Point: first.Point, Fanout: 4, Level: 1, Nodes: setOf(tree.Width(1), 0, 5, 15)}
	cases := []struct {
		name string
		f    func(*resyncQueryMsg)
		code Code
	}{
		{"another point", func(m *resyncQueryMsg) { m.Point = delta.PointID{9} }, CodeBaseMismatch},
		{"volume past the group's", func(m *resyncQueryMsg) { m.Volume = 1 }, CodeProtocol},
		{"level past the top", func(m *resyncQueryMsg) { m.Level = uint8(tree.Levels()) }, CodeProtocol},
		{"set over another width", func(m *resyncQueryMsg) { m.Nodes = setOf(tree.Width(1)+1, 0) }, CodeProtocol},
		{"set with bytes after it", func(m *resyncQueryMsg) { m.Nodes = append(setOf(tree.Width(1), 0), 0) }, CodeProtocol},
		{"garbage set", func(m *resyncQueryMsg) { m.Nodes = []byte{0xff, 0xff, 0xff} }, CodeProtocol},
		{"unauthorized group", func(m *resyncQueryMsg) { m.Group = "vm2" }, CodeUnauthorized},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			q := good
			c.f(&q)
			require.NoError(t, sendMsg(ctx, conn, q))
			_, _, err := expectReply[resyncHashesMsg](ctx, conn, nil)
			var re *RemoteError
			require.True(t, errors.As(err, &re), "%v", err)
			assert.Equal(t, c.code, re.Code, re.Message)
		})
	}
	// The connection still serves a good query, with the tree's nodes.
	require.NoError(t, sendMsg(ctx, conn, good))
	a, _, err := expectReply[resyncHashesMsg](ctx, conn, nil)
	require.NoError(t, err)
	assert.Equal(t, []nodeDigest{digestOf(tree.Node(1, 0)), digestOf(tree.Node(1, 5)), digestOf(tree.Node(1, 15))}, a.Digests)
	assert.Equal(t, first.Point, a.Point)
	assert.Equal(t, uint8(1), a.Level)
}
