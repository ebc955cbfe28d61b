package replica_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/blockrep/blockrep/checkpoint"
	"github.com/blockrep/blockrep/checkpoint/vfs"
	"github.com/blockrep/blockrep/replica"
	"github.com/blockrep/blockrep/replica/replicatest"
	"github.com/blockrep/blockrep/transport"
	"github.com/blockrep/blockrep/transport/memory"
)

// Two primaries authorized into two storage locations: each group lands in
// the store its authorization entry names — never one a name from the wire
// picks — and every later access finds it there.
func TestStorageLocations(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	clk := replicatest.NewClock(epoch)
	net, err := memory.NewNetwork(1)
	require.NoError(t, err)
	open := func() *checkpoint.DirStore {
		st, err := checkpoint.Open(vfs.NewMem(), "store", checkpoint.WithClock(clk.Now))
		require.NoError(t, err)
		t.Cleanup(func() { st.Close() })
		return st
	}
	def, siteA, siteB := open(), open(), open()
	auth, err := transport.NewAuthorizer([]transport.AuthEntry{
		{Peer: "p1", Group: "vm*", Storage: "siteA"},
		{Peer: "p1", Group: "siteB", Storage: "siteA"}, // a group named like a storage
		{Peer: "p2", Group: "vm2", Storage: "siteB/fast"},
		{Peer: "p2", Group: "vm1", Storage: "siteB/fast"}, // an id taken in siteA
		{Peer: "p2", Group: "db", Storage: "."},
		{Peer: "p3", Group: "*", Storage: "nowhere"},
	})
	require.NoError(t, err)
	l, err := net.Endpoint("replica").Listen(ctx, "replica:1")
	require.NoError(t, err)
	defer l.Close()
	host, err := replica.NewReplicaHost(replica.ReplicaConfig{
		Listener: l, Store: def, Authorizer: auth, Clock: clk,
		Stores: map[string]checkpoint.Store{"siteA": siteA, "siteB/fast": siteB},
	})
	require.NoError(t, err)
	served := make(chan error, 1)
	go func() { served <- host.Serve(ctx) }()
	defer func() {
		cancel()
		require.NoError(t, <-served)
		require.NoError(t, host.Close())
	}()
	primary := func(name string) *replica.PrimaryHost {
		p, err := replica.NewPrimaryHost(replica.PrimaryConfig{Transport: net.Endpoint(name), Clock: clk, Rand: &countingReader{}})
		require.NoError(t, err)
		t.Cleanup(func() { require.NoError(t, p.Close()) })
		return p
	}
	p1, p2, p3 := primary("p1"), primary("p2"), primary("p3")
	enable := func(p *replica.PrimaryHost, id string) (*replica.Relationship, []*memVolume, error) {
		cfg, vols := groupConfig(id, 32<<10, 1)
		rel, err := p.Enable(ctx, cfg)
		if err != nil {
			return nil, nil, err
		}
		copy(vols[0].data, id)
		if _, err := rel.InitialReplication(ctx); err != nil {
			return rel, vols, err
		}
		return rel, vols, nil
	}
	for _, c := range []struct {
		p  *replica.PrimaryHost
		id string
	}{{p1, "vm1"}, {p1, "siteB"}, {p2, "vm2"}, {p2, "db"}} {
		_, _, err := enable(c.p, c.id)
		require.NoError(t, err, c.id)
	}
	groups := func(st checkpoint.Store) []string {
		ids, err := st.Groups(ctx)
		require.NoError(t, err)
		return ids
	}
	assert.Equal(t, []string{"siteB", "vm1"}, groups(siteA))
	assert.Equal(t, []string{"vm2"}, groups(siteB))
	assert.Equal(t, []string{"db"}, groups(def))
	all, err := host.Groups(ctx)
	require.NoError(t, err)
	assert.Equal(t, []string{"db", "siteB", "vm1", "vm2"}, all)

	// A group id is unique across stores: p2 may replicate "vm1" into
	// siteB, but siteA holds it.
	_, _, err = enable(p2, "vm1")
	var re *replica.RemoteError
	require.ErrorAs(t, err, &re)
	assert.Equal(t, replica.CodeGroupExists, re.Code)
	assert.Equal(t, []string{"vm2"}, groups(siteB))

	// An entry naming a storage the host does not have: refused, nowhere
	// created.
	_, _, err = enable(p3, "vm9")
	require.ErrorAs(t, err, &re)
	assert.Equal(t, replica.CodeInternal, re.Code)
	assert.Contains(t, re.Message, `unknown storage location: "nowhere"`)
	all, err = host.Groups(ctx)
	require.NoError(t, err)
	assert.Equal(t, []string{"db", "siteB", "vm1", "vm2"}, all)

	// Every later access finds the group in its store: Group, a test
	// failover and a failover.
	rg, err := host.Group(ctx, "vm2")
	require.NoError(t, err)
	require.Len(t, rg.Points, 1)
	tf, err := host.StartTestFailover(ctx, "vm1", replica.SelectLatest)
	require.NoError(t, err)
	b := make([]byte, 3)
	_, err = tf.Volumes()[0].ReadAt(b, 0)
	require.NoError(t, err)
	assert.Equal(t, "vm1", string(b))
	clones, err := mustGroup(t, siteA, "vm1").Clones(ctx)
	require.NoError(t, err)
	assert.Equal(t, []string{"testfailover"}, clones)
	require.NoError(t, host.StopTestFailover(ctx, "vm1"))
	fo, err := host.Failover(ctx, "vm2", replica.SelectLatest)
	require.NoError(t, err)
	_, err = fo.Volumes()[0].ReadAt(b, 0)
	require.NoError(t, err)
	assert.Equal(t, "vm2", string(b))
	require.NoError(t, host.CancelFailover(ctx, "vm2"))
	_, err = host.Group(ctx, "nope")
	require.ErrorIs(t, err, replica.ErrUnknownGroup)
}

func mustGroup(t *testing.T, st checkpoint.Store, id string) checkpoint.Group {
	t.Helper()
	g, err := st.Group(context.Background(), id)
	require.NoError(t, err)
	return g
}

func TestStoresConfig(t *testing.T) {
	st, err := checkpoint.Open(vfs.NewMem(), "store")
	require.NoError(t, err)
	defer st.Close()
	net, err := memory.NewNetwork(1)
	require.NoError(t, err)
	l, err := net.Endpoint("replica").Listen(context.Background(), "replica:1")
	require.NoError(t, err)
	defer l.Close()
	auth, err := transport.NewAuthorizer(nil)
	require.NoError(t, err)
	for _, tc := range []struct {
		name   string
		stores map[string]checkpoint.Store
		ok     bool
	}{
		{"none", nil, true},
		{"named", map[string]checkpoint.Store{"a": st, "b/c": st}, true},
		{"empty name", map[string]checkpoint.Store{"": st}, false},
		{"dot", map[string]checkpoint.Store{".": st}, false},
		{"nil store", map[string]checkpoint.Store{"a": nil}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := replica.ReplicaConfig{Listener: l, Store: st, Authorizer: auth, Stores: tc.stores}
			err := cfg.Validate()
			if tc.ok {
				require.NoError(t, err)
				return
			}
			require.ErrorIs(t, err, replica.ErrInvalidConfig)
		})
	}
}
