package replica_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"sync"
	"testing"
	"time"

	"github.com/blockrep/blockrep/checkpoint"
	"github.com/blockrep/blockrep/checkpoint/vfs"
	"github.com/blockrep/blockrep/delta"
	"github.com/blockrep/blockrep/replica"
	"github.com/blockrep/blockrep/replica/replicatest"
	"github.com/blockrep/blockrep/transport"
	"github.com/blockrep/blockrep/transport/memory"
	"github.com/stretchr/testify/require"
)

// memVolume is a volume in memory, safe for concurrent use.
type memVolume struct {
	mu   sync.RWMutex
	data []byte
}

func newMemVolume(size int64) *memVolume { return &memVolume{data: make([]byte, size)} }

func (v *memVolume) ReadAt(p []byte, off int64) (int, error) {
	v.mu.RLock()
	defer v.mu.RUnlock()
	if off < 0 || off > int64(len(v.data)) {
		return 0, io.EOF
	}
	n := copy(p, v.data[off:])
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

func (v *memVolume) WriteAt(p []byte, off int64) (int, error) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if off < 0 || off+int64(len(p)) > int64(len(v.data)) {
		return 0, fmt.Errorf("write [%d,+%d) outside %d bytes", off, len(p), len(v.data))
	}
	return copy(v.data[off:], p), nil
}

func (v *memVolume) snapshot() []byte {
	v.mu.RLock()
	defer v.mu.RUnlock()
	return bytes.Clone(v.data)
}

var epoch = time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)

// env is a primary host and a replica host on one in-memory network, with
// a fake clock.
type env struct {
	t       testing.TB
	ctx     context.Context
	clk     *replicatest.Clock
	net     *memory.Network
	store   *checkpoint.DirStore
	auth    *transport.Authorizer
	replica *replica.ReplicaHost
	primary *replica.PrimaryHost
	events  chan replica.CycleEvent
	seed    uint64
}

type envOption func(*envConfig)

type envConfig struct {
	entries []transport.AuthEntry
	fsys    vfs.FS
	root    string
	primary string // endpoint name of the primary
	chunk   int
	retry   time.Duration
	wrap    func(checkpoint.Store) checkpoint.Store
	timeout time.Duration
	maxIdle time.Duration
	dialer  func(transport.Transport) transport.Transport
}

// withPrimaryTransport wraps the primary's transport (to lose or alter
// what it receives).
func withPrimaryTransport(f func(transport.Transport) transport.Transport) envOption {
	return func(c *envConfig) { c.dialer = f }
}

func withCycleTimeout(d time.Duration) envOption { return func(c *envConfig) { c.timeout = d } }

func withMaxIdle(d time.Duration) envOption { return func(c *envConfig) { c.maxIdle = d } }

func withStoreWrapper(f func(checkpoint.Store) checkpoint.Store) envOption {
	return func(c *envConfig) { c.wrap = f }
}

func withChunk(n int) envOption { return func(c *envConfig) { c.chunk = n } }

func withRetryInterval(d time.Duration) envOption { return func(c *envConfig) { c.retry = d } }

func withAuth(entries ...transport.AuthEntry) envOption {
	return func(c *envConfig) { c.entries = entries }
}

func withPrimaryName(name string) envOption { return func(c *envConfig) { c.primary = name } }

func withStoreDir(fsys vfs.FS, root string) envOption {
	return func(c *envConfig) { c.fsys, c.root = fsys, root }
}

func newEnv(t testing.TB, opts ...envOption) *env {
	cfg := envConfig{
		entries: []transport.AuthEntry{{Peer: "primary", Group: "*", Storage: "."}},
		fsys:    vfs.NewMem(),
		root:    "store",
		primary: "primary",
	}
	for _, o := range opts {
		o(&cfg)
	}
	ctx, cancel := context.WithCancel(context.Background())
	e := &env{t: t, ctx: ctx, clk: replicatest.NewClock(epoch), events: make(chan replica.CycleEvent, 64), seed: 1}
	net, err := memory.NewNetwork(1)
	require.NoError(t, err)
	e.net = net
	e.store, err = checkpoint.Open(cfg.fsys, cfg.root, checkpoint.WithClock(e.clk.Now))
	require.NoError(t, err)
	e.auth, err = transport.NewAuthorizer(cfg.entries)
	require.NoError(t, err)
	l, err := net.Endpoint("replica").Listen(ctx, "replica:1")
	require.NoError(t, err)
	var store checkpoint.Store = e.store
	if cfg.wrap != nil {
		store = cfg.wrap(store)
	}
	e.replica, err = replica.NewReplicaHost(replica.ReplicaConfig{Listener: l, Store: store, Authorizer: e.auth, Clock: e.clk})
	require.NoError(t, err)
	served := make(chan error, 1)
	go func() { served <- e.replica.Serve(ctx) }()
	var tr transport.Transport = net.Endpoint(cfg.primary)
	if cfg.dialer != nil {
		tr = cfg.dialer(tr)
	}
	e.primary, err = replica.NewPrimaryHost(replica.PrimaryConfig{
		Transport:     tr,
		Clock:         e.clk,
		Rand:          &countingReader{},
		ChunkSize:     cfg.chunk,
		RetryInterval: cfg.retry,
		CycleTimeout:  cfg.timeout,
		MaxIdle:       cfg.maxIdle,
		OnCycle:       func(ev replica.CycleEvent) { e.events <- ev },
	})
	require.NoError(t, err)
	t.Cleanup(func() {
		require.NoError(t, e.primary.Close())
		cancel()
		require.NoError(t, <-served)
		require.NoError(t, e.replica.Close())
		l.Close()
		require.NoError(t, e.store.Close())
	})
	return e
}

// countingReader yields distinct, reproducible point ids.
type countingReader struct{ n uint64 }

func (c *countingReader) Read(p []byte) (int, error) {
	for i := range p {
		c.n++
		p[i] = byte(c.n*2654435761>>13) ^ byte(c.n)
	}
	return len(p), nil
}

// run starts the primary's schedule; it stops at cleanup.
func (e *env) run() {
	ctx, cancel := context.WithCancel(e.ctx)
	done := make(chan error, 1)
	go func() { done <- e.primary.Run(ctx) }()
	e.t.Cleanup(func() {
		cancel()
		require.NoError(e.t, <-done)
	})
}

// event waits for the next cycle event.
func (e *env) event() replica.CycleEvent {
	e.t.Helper()
	select {
	case ev := <-e.events:
		return ev
	case <-time.After(30 * time.Second):
		e.t.Fatal("no cycle event within 30s")
		return replica.CycleEvent{}
	}
}

// noEvent asserts that no cycle event is pending.
func (e *env) noEvent() {
	e.t.Helper()
	select {
	case ev := <-e.events:
		e.t.Fatalf("unexpected cycle event %+v", ev)
	default:
	}
}

// waitTimers waits until n schedule timers are armed.
func (e *env) waitTimers(n int) {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(e.ctx, 30*time.Second)
	defer cancel()
	require.NoError(e.t, e.clk.BlockUntil(ctx, n))
}

// group returns a config of vols fresh memory volumes of size bytes each.
func groupConfig(id string, size int64, nvols int) (replica.GroupConfig, []*memVolume) {
	cfg := replica.GroupConfig{ID: id, Replica: "replica:1", BlockSize: 4096, Frequency: replica.Frequency5m}
	var vols []*memVolume
	for i := range nvols {
		v := newMemVolume(size)
		vols = append(vols, v)
		cfg.Volumes = append(cfg.Volumes, replica.VolumeConfig{Name: fmt.Sprintf("disk%d", i), Volume: v, Size: size})
	}
	return cfg, vols
}

// pointImages reads every volume of point id on the replica.
func (e *env) pointImages(group string, id delta.PointID) [][]byte {
	e.t.Helper()
	g, err := e.store.Group(e.ctx, group)
	require.NoError(e.t, err)
	view, err := g.OpenPoint(e.ctx, id)
	require.NoError(e.t, err)
	defer view.Close()
	var out [][]byte
	for _, v := range view.Volumes() {
		b := make([]byte, v.Size())
		_, err := v.ReadAt(b, 0)
		if err == io.EOF {
			err = nil
		}
		require.NoError(e.t, err)
		out = append(out, b)
	}
	return out
}

// points returns the replica's chain of group.
func (e *env) points(group string) []checkpoint.Point {
	e.t.Helper()
	g, err := e.store.Group(e.ctx, group)
	require.NoError(e.t, err)
	pts, err := g.Points(e.ctx)
	require.NoError(e.t, err)
	return pts
}
