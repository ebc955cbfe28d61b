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
	"github.com/zeebo/blake3"
)

// A replica answers page-digest queries that do not fit its group with the
// Nack code that says why, keeps the connection open, and answers a good
// query with the keyed digest of every page of the named blocks — the
// short last block's short last page hashed over its own bytes.
func TestResyncPagesQueryRefusals(t *testing.T) {
	const bs = 16 << 10
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
	vol := make(byteVolume, 20*bs+5000) // 21 blocks, the last of 5000 bytes
	for i := range vol {
		vol[i] = byte(i*7/1000 + i/4096)
	}
	geom := delta.Geometry{Size: int64(len(vol)), BlockSize: bs}
	rel, err := ph.Enable(ctx, GroupConfig{ID: "vm1", Replica: "replica:1", BlockSize: bs,
		Volumes: []VolumeConfig{{Name: "d", Volume: vol, Size: int64(len(vol))}}})
	require.NoError(t, err)
	first, err := rel.InitialReplication(ctx)
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

	key := [ResyncPageKeySize]byte{1, 2, 3, 4, 5}
	good := resyncPagesQueryMsg{Group: "vm1", Point: first.Point, Key: key, Size: 6, Blocks: setOf(geom.Blocks(), 0, 7, 20)}
	cases := []struct {
		name string
		f    func(*resyncPagesQueryMsg)
		code Code
	}{
		{"another point", func(m *resyncPagesQueryMsg) { m.Point = delta.PointID{9} }, CodeBaseMismatch},
		{"volume past the group's", func(m *resyncPagesQueryMsg) { m.Volume = 1 }, CodeProtocol},
		{"set over another width", func(m *resyncPagesQueryMsg) { m.Blocks = setOf(geom.Blocks()+1, 0) }, CodeProtocol},
		{"set with bytes after it", func(m *resyncPagesQueryMsg) { m.Blocks = append(setOf(geom.Blocks(), 0), 0) }, CodeProtocol},
		{"garbage set", func(m *resyncPagesQueryMsg) { m.Blocks = []byte{0xff, 0xff, 0xff} }, CodeProtocol},
		{"unauthorized group", func(m *resyncPagesQueryMsg) { m.Group = "vm2" }, CodeUnauthorized},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			q := good
			c.f(&q)
			require.NoError(t, sendMsg(ctx, conn, q))
			_, _, err := expectReply[resyncPageHashesMsg](ctx, conn, nil)
			var re *RemoteError
			require.True(t, errors.As(err, &re), "%v", err)
			assert.Equal(t, c.code, re.Code, re.Message)
		})
	}

	// The connection still serves a good query: 4 + 4 + 2 pages.
	var want []byte
	for _, page := range [][2]int{{0, 4096}, {4096, 8192}, {8192, 12288}, {12288, 16384},
		{7 * bs, 7*bs + 4096}, {7*bs + 4096, 7*bs + 8192}, {7*bs + 8192, 7*bs + 12288}, {7*bs + 12288, 8 * bs},
		{20 * bs, 20*bs + 4096}, {20*bs + 4096, len(vol)}} {
		h, err := blake3.NewKeyed(key[:])
		require.NoError(t, err)
		h.Write(vol[page[0]:page[1]])
		want = append(want, h.Sum(nil)[:6]...)
	}
	for _, size := range []uint8{6, MinResyncPageDigest, MaxResyncPageDigest} {
		q := good
		q.Size = size
		require.NoError(t, sendMsg(ctx, conn, q))
		a, _, err := expectReply[resyncPageHashesMsg](ctx, conn, nil)
		require.NoError(t, err)
		require.Len(t, a.Digests, 10*int(size))
		if size == 6 {
			assert.Equal(t, want, a.Digests)
		}
		for i := range 10 {
			assert.Equal(t, want[i*6:i*6+min(6, int(size))], a.Digests[i*int(size):i*int(size)+min(6, int(size))], "page %d at size %d", i, size)
		}
		assert.Equal(t, first.Point, a.Point)
		assert.Equal(t, "vm1", a.Group)
		assert.Equal(t, len(appendMessage(nil, a)), resyncPageHashesSize(a))
	}
}
