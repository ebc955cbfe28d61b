package replica_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"io"
	"math/rand/v2"
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
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

// keepAll keeps every point of a test's short chain, one a second.
var keepAll = checkpoint.Retention{Additional: 500, Spacing: time.Second}

// hop is one replica host of a chain: its own store, listening at addr on
// the endpoint name, dialing further hops from that endpoint too.
type hop struct {
	t     testing.TB
	ctx   context.Context
	clk   *replicatest.Clock
	net   *memory.Network
	name  string
	addr  string
	allow string // the upstream peer it accepts
	fs    vfs.FS
	store *checkpoint.DirStore
	host  *replica.ReplicaHost
	l     transport.Listener
	fwd   chan replica.ForwardEvent

	cancel func()
	served chan error
	closed bool
}

func newHop(t testing.TB, ctx context.Context, clk *replicatest.Clock, net *memory.Network, name, allow string) *hop {
	h := &hop{t: t, ctx: ctx, clk: clk, net: net, name: name, addr: name + ":1", allow: allow, fs: vfs.NewMem(), fwd: make(chan replica.ForwardEvent, 64)}
	var err error
	h.l, err = net.Endpoint(name).Listen(ctx, h.addr)
	require.NoError(t, err)
	h.start(false)
	t.Cleanup(h.close)
	return h
}

// start opens the store and a new host on it and serves, unless lazy.
func (h *hop) start(lazy bool) {
	var err error
	h.store, err = checkpoint.Open(h.fs, "store", checkpoint.WithClock(h.clk.Now))
	require.NoError(h.t, err)
	auth, err := transport.NewAuthorizer([]transport.AuthEntry{{Peer: h.allow, Group: "*", Storage: "."}})
	require.NoError(h.t, err)
	h.host, err = replica.NewReplicaHost(replica.ReplicaConfig{Listener: h.l, Store: h.store, Authorizer: auth, Clock: h.clk, Transport: h.net.Endpoint(h.name)})
	require.NoError(h.t, err)
	h.closed = false
	if !lazy {
		h.serve()
	}
}

func (h *hop) serve() {
	ctx, cancel := context.WithCancel(h.ctx)
	h.cancel, h.served = cancel, make(chan error, 1)
	go func() { h.served <- h.host.Serve(ctx) }()
}

// stop ends the host and closes its store, keeping the listener.
func (h *hop) stop() {
	if h.closed {
		return
	}
	h.closed = true
	if h.cancel != nil {
		h.cancel()
		require.NoError(h.t, <-h.served)
		h.cancel = nil
	}
	require.NoError(h.t, h.host.Close())
	require.NoError(h.t, h.store.Close())
}

func (h *hop) close() {
	h.stop()
	h.l.Close()
}

// extend starts forwarding group to next, events to h.fwd.
func (h *hop) extend(group string, next *hop, freq time.Duration, ret checkpoint.Retention) {
	h.t.Helper()
	h.extendWith(group, replica.ExtendConfig{Replica: next.addr, Frequency: freq, Retention: ret})
}

func (h *hop) extendWith(group string, cfg replica.ExtendConfig) {
	h.t.Helper()
	cfg.OnForward = func(ev replica.ForwardEvent) { h.fwd <- ev }
	require.NoError(h.t, h.host.Extend(h.ctx, group, cfg))
}

// forwarded waits for the next forward event of h.
func (h *hop) forwarded() replica.ForwardEvent {
	h.t.Helper()
	select {
	case ev := <-h.fwd:
		return ev
	case <-time.After(30 * time.Second):
		h.t.Fatalf("%s: no forward within 30s", h.name)
		return replica.ForwardEvent{}
	}
}

func (h *hop) group(id string) checkpoint.Group {
	h.t.Helper()
	g, err := h.store.Group(h.ctx, id)
	require.NoError(h.t, err)
	return g
}

func (h *hop) points(id string) []checkpoint.Point {
	h.t.Helper()
	pts, err := h.group(id).Points(h.ctx)
	require.NoError(h.t, err)
	return pts
}

func (h *hop) latest(id string) delta.PointID {
	h.t.Helper()
	p, err := h.group(id).Latest(h.ctx)
	require.NoError(h.t, err)
	return p.ID
}

func (h *hop) pins(id string) []delta.PointID {
	h.t.Helper()
	pins, err := h.group(id).Pins(h.ctx)
	require.NoError(h.t, err)
	var out []delta.PointID
	for _, p := range pins {
		out = append(out, p.Point)
	}
	return out
}

// image reads every volume of point id.
func (h *hop) image(group string, id delta.PointID) [][]byte {
	h.t.Helper()
	view, err := h.group(group).OpenPoint(h.ctx, id)
	require.NoError(h.t, err)
	defer view.Close()
	var out [][]byte
	for _, v := range view.Volumes() {
		b := make([]byte, v.Size())
		_, err := v.ReadAt(b, 0)
		require.NoError(h.t, err)
		out = append(out, b)
	}
	return out
}

// chain is a primary with one group and the first replica hop.
type chain struct {
	t      testing.TB
	ctx    context.Context
	clk    *replicatest.Clock
	net    *memory.Network
	rng    *rand.Rand
	p      *replica.PrimaryHost
	rel    *replica.Relationship
	vols   int
	size   int64
	events chan replica.CycleEvent
	b      *hop
	tick   time.Duration // the clock moves by this before each cycle
}

const extBlock = 4096

func newChain(t testing.TB, ret checkpoint.Retention) *chain {
	return newChainSized(t, ret, 256<<10)
}

// newChainSized is newChain with two volumes of size bytes each.
func newChainSized(t testing.TB, ret checkpoint.Retention, size int64) *chain {
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	c := &chain{t: t, ctx: ctx, clk: replicatest.NewClock(epoch), rng: rand.New(rand.NewPCG(seed, 7)), vols: 2, size: size, tick: time.Second, events: make(chan replica.CycleEvent, 64)}
	var err error
	c.net, err = memory.NewNetwork(1)
	require.NoError(t, err)
	c.b = newHop(t, ctx, c.clk, c.net, "replica", "primary")
	c.p, err = replica.NewPrimaryHost(replica.PrimaryConfig{Transport: c.net.Endpoint("primary"), Clock: c.clk, Rand: &countingReader{}, OnCycle: func(ev replica.CycleEvent) { c.events <- ev }})
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, c.p.Close()) })
	cfg, _ := groupConfig("vm", c.size, c.vols)
	cfg.Frequency, cfg.Retention, cfg.Metadata = replica.Frequency30s, ret, []byte("vm config")
	c.rel, err = c.p.Enable(ctx, cfg)
	require.NoError(t, err)
	c.write(c.size / extBlock * int64(c.vols)) // every block, mostly
	_, err = c.rel.InitialReplication(ctx)
	require.NoError(t, err)
	<-c.events
	return c
}

// write writes n random blocks through the relationship's volumes.
func (c *chain) write(n int64) {
	buf := make([]byte, extBlock)
	for range n {
		v := c.rng.IntN(c.vols)
		blk := c.rng.Int64N(c.size / extBlock)
		c.fill(buf)
		_, err := c.rel.Volume(v).WriteAt(buf, blk*extBlock)
		require.NoError(c.t, err)
	}
}

// fill fills p with random bytes.
func (c *chain) fill(p []byte) {
	for i := 0; i+8 <= len(p); i += 8 {
		binary.LittleEndian.PutUint64(p[i:], c.rng.Uint64())
	}
}

// writeBlocks writes random content to the given blocks of volume v.
func (c *chain) writeBlocks(v int, blocks []int) {
	buf := make([]byte, extBlock)
	for _, b := range blocks {
		c.fill(buf)
		_, err := c.rel.Volume(v).WriteAt(buf, int64(b)*extBlock)
		require.NoError(c.t, err)
	}
}

// cycle writes n blocks, moves the clock a second on (each point in a
// retention slot of its own) and runs a cycle (a second try after a
// connection the replica's restart closed).
func (c *chain) cycle(n int64) replica.CycleResult {
	c.write(n)
	if c.tick > 0 {
		c.clk.Advance(c.tick)
	}
	res, err := c.rel.Cycle(c.ctx)
	if err != nil {
		<-c.events
		res, err = c.rel.Cycle(c.ctx)
	}
	require.NoError(c.t, err)
	<-c.events
	return res
}

// sameImages asserts that point id reads the same on both hops.
func sameImages(t *testing.T, a, b *hop, group string, id delta.PointID) {
	t.Helper()
	ia, ib := a.image(group, id), b.image(group, id)
	require.Len(t, ib, len(ia))
	for v := range ia {
		assert.True(t, bytesEqual(ia[v], ib[v]), "point %s volume %d differs between %s and %s", id, v, a.name, b.name)
	}
}

func bytesEqual(a, b []byte) bool { return string(a) == string(b) }

// isSubsequence reports whether sub's ids appear in all, in order.
func isSubsequence(sub, all []checkpoint.Point) bool {
	i := 0
	for _, p := range all {
		if i < len(sub) && sub[i].ID == p.ID {
			i++
		}
	}
	return i == len(sub)
}

// checkForward asserts that ev's figures match the upstream chain up.
func checkForward(t *testing.T, up []checkpoint.Point, ev replica.ForwardEvent) {
	t.Helper()
	require.NoError(t, ev.Err)
	if ev.Result.Points == 0 {
		assert.Equal(t, ev.Result.Base, ev.Result.Point)
		return
	}
	counting := ev.Result.Base.IsZero()
	var points int
	var changed []*delta.Set
	for _, p := range up {
		if counting {
			points++
			if changed == nil {
				for _, s := range p.Changed {
					changed = append(changed, s.Clone())
				}
			} else {
				for v, s := range p.Changed {
					require.NoError(t, changed[v].Union(s))
				}
			}
		}
		if p.ID == ev.Result.Base {
			counting = true
		}
		if p.ID == ev.Result.Point {
			break
		}
	}
	var blocks, written int64
	for _, s := range changed {
		written += s.Count()
		blocks += s.Count()
		if ev.Result.Base.IsZero() {
			blocks += s.Len() - s.Count() // the initial copy sends every block
		}
	}
	assert.Equal(t, points, ev.Result.Points, "points coalesced")
	assert.Equal(t, blocks, ev.Result.Blocks, "blocks sent")
	// Random blocks do not compress: the stream is the written blocks plus
	// a little (zero blocks of the initial copy cost a few bytes each).
	assert.LessOrEqual(t, ev.Result.StreamBytes, blocks*64+written*extBlock+4096)
	if ev.Result.Base.IsZero() {
		written = blocks / 3 // of the initial point's blocks, the written ones (about 63%)
	}
	assert.GreaterOrEqual(t, ev.Result.StreamBytes, written*extBlock*9/10)
}

// TestExtendedThreeHops runs primary → replica (30 s) → extended (5 min)
// → a fourth host (15 min) for 40 cycles while a writer writes.
func TestExtendedThreeHops(t *testing.T) {
	c := newChain(t, keepAll)
	ext := newHop(t, c.ctx, c.clk, c.net, "ext", "replica")
	ext2 := newHop(t, c.ctx, c.clk, c.net, "ext2", "ext")

	c.b.extend("vm", ext, replica.Frequency5m, keepAll)
	initial := c.b.forwarded()
	checkForward(t, c.b.points("vm"), initial)
	require.True(t, initial.Result.Base.IsZero())
	ext.extend("vm", ext2, replica.Frequency15m, keepAll)
	checkForward(t, ext.points("vm"), ext2Wait(ext))

	ctx, cancel := context.WithCancel(c.ctx)
	done := make(chan error, 1)
	go func() { done <- c.p.Run(ctx) }()
	var once sync.Once
	stopRun := func() {
		once.Do(func() {
			cancel()
			require.NoError(t, <-done)
		})
	}
	defer stopRun()
	waitClock(t, c.clk, 3)

	var fwd1, fwd2 []replica.ForwardEvent
	for step := 1; step <= 40; step++ {
		var wg sync.WaitGroup
		wg.Add(1)
		go func() { defer wg.Done(); c.write(8) }() // the host writes during the cycle
		c.clk.Advance(replica.Frequency30s)
		wg.Wait()
		ev := <-c.events
		require.NoError(t, ev.Err, "cycle %d", step)
		if step%10 == 0 {
			fwd1 = append(fwd1, c.b.forwarded())
		}
		if step%30 == 0 {
			fwd2 = append(fwd2, ext.forwarded())
		}
		waitClock(t, c.clk, 3)
	}
	stopRun()

	bp, ep, e2p := c.b.points("vm"), ext.points("vm"), ext2.points("vm")
	require.Len(t, bp, 41)
	assert.Len(t, ep, 1+len(fwd1))
	assert.Len(t, e2p, 1+len(fwd2))
	assert.True(t, isSubsequence(ep, bp), "extended ids are the replica's")
	assert.True(t, isSubsequence(e2p, ep), "fourth host's ids are the extended replica's")
	for _, ev := range fwd1 {
		checkForward(t, bp, ev)
		assert.GreaterOrEqual(t, ev.Result.Points, 9, "coalesced the points in between")
	}
	for _, ev := range fwd2 {
		checkForward(t, ep, ev)
	}
	for _, p := range ep {
		sameImages(t, c.b, ext, "vm", p.ID)
	}
	for _, p := range e2p {
		sameImages(t, ext, ext2, "vm", p.ID)
	}
	hashes := make(map[delta.PointID]delta.Hash)
	for _, p := range bp {
		hashes[p.ID] = p.Hash
	}
	for _, p := range append(ep, e2p...) {
		assert.Equal(t, hashes[p.ID], p.Hash)
	}
	// The metadata record travelled with the group.
	g, err := ext2.host.Group(c.ctx, "vm")
	require.NoError(t, err)
	assert.Equal(t, []byte("vm config"), g.Metadata)
	assert.Equal(t, keepAll, g.Retention)

	st := c.b.host.Extensions()
	require.Len(t, st, 1)
	assert.Equal(t, replica.ExtensionStatus{
		Group: "vm", Replica: "ext:1", Frequency: replica.Frequency5m, Retention: keepAll,
		LastPoint: ep[len(ep)-1].ID, LastPointTime: ep[len(ep)-1].Time, LastForward: c.clk.Now(),
		Successes: int64(1 + len(fwd1)), Bytes: sumBytes(append([]replica.ForwardEvent{initial}, fwd1...)),
		Health: replica.Health{Level: replica.Normal},
	}, st[0])
}

func ext2Wait(h *hop) replica.ForwardEvent { return h.forwarded() }

func sumBytes(evs []replica.ForwardEvent) int64 {
	var n int64
	for _, ev := range evs {
		n += ev.Result.StreamBytes
	}
	return n
}

func waitClock(t testing.TB, clk *replicatest.Clock, n int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	require.NoError(t, clk.BlockUntil(ctx, n))
}

// TestExtendedPinsHoldTheBase keeps the latest point only on the replica:
// the forwarded point stays while newer ones come and go, and is released
// once the next one is acknowledged.
func TestExtendedPinsHoldTheBase(t *testing.T) {
	c := newChain(t, checkpoint.Retention{})
	ext := newHop(t, c.ctx, c.clk, c.net, "ext", "replica")
	c.b.extend("vm", ext, replica.Frequency5m, checkpoint.Retention{})
	first := c.b.forwarded()
	require.NoError(t, first.Err)
	p1 := first.Result.Point
	assert.Equal(t, []delta.PointID{p1}, c.b.pins("vm"))

	p2 := c.cycle(10).Point
	p3 := c.cycle(10).Point
	assert.Equal(t, []delta.PointID{p1}, c.b.pins("vm"))
	assert.Equal(t, []delta.PointID{p1, p3}, ids(c.b.points("vm")), "p2 pruned, the forwarded p1 kept")
	_ = p2

	res, err := c.b.host.ForwardNow(c.ctx, "vm")
	require.NoError(t, err)
	<-c.b.fwd
	assert.Equal(t, replica.ForwardResult{Point: p3, Base: p1, Time: res.Time, Points: 1, Blocks: res.Blocks, StreamBytes: res.StreamBytes}, res)
	assert.Equal(t, []delta.PointID{p3}, c.b.pins("vm"))
	assert.Equal(t, []delta.PointID{p3}, ids(c.b.points("vm")), "p1 released and pruned")
	assert.Equal(t, []delta.PointID{p3}, ids(ext.points("vm")))
	sameImages(t, c.b, ext, "vm", p3)

	// Nothing new: nothing is sent.
	res, err = c.b.host.ForwardNow(c.ctx, "vm")
	require.NoError(t, err)
	<-c.b.fwd
	assert.Equal(t, replica.ForwardResult{Point: p3, Base: p3, Time: res.Time}, res)

	require.NoError(t, c.b.host.StopExtend(c.ctx, "vm"))
	assert.Empty(t, c.b.pins("vm"), "StopExtend releases the pin")
}

func ids(pts []checkpoint.Point) []delta.PointID {
	var out []delta.PointID
	for _, p := range pts {
		out = append(out, p.ID)
	}
	return out
}

// TestExtendedCutInitialCopy cuts the initial copy: its point stays
// pinned, and the next forward still sends it (a pin does not mean the
// extended replica has the point).
func TestExtendedCutInitialCopy(t *testing.T) {
	c := newChain(t, checkpoint.Retention{})
	ext := newHop(t, c.ctx, c.clk, c.net, "ext", "replica")
	ext.pause()
	for _, n := range []int64{1, 100, 5000, 100_000} {
		c.net.SetFaults("replica", "ext", memory.Faults{CutAfter: n})
		ext.start(false)
		c.b.extendWith("vm", replica.ExtendConfig{Replica: ext.addr, ChunkSize: 4096})
		ev := c.b.forwarded()
		require.Error(t, ev.Err, "cut after %d bytes", n)
		assert.Subset(t, []delta.PointID{c.b.latest("vm")}, c.b.pins("vm"), "pinned once the status was read")

		c.net.SetFaults("replica", "ext", memory.Faults{})
		res, err := c.b.host.ForwardNow(c.ctx, "vm")
		<-c.b.fwd
		require.NoError(t, err, "after the cut at %d", n)
		assert.True(t, res.Base.IsZero(), "the initial copy is sent")
		sameImages(t, c.b, ext, "vm", res.Point)

		// Again from scratch: no extension, no group on the extended replica.
		require.NoError(t, c.b.host.StopExtend(c.ctx, "vm"))
		ext.stop()
		ext.fs = vfs.NewMem()
	}
}

// TestExtendedCutForward cuts the connection to the extended replica
// after a number of bytes: it stays at its point, the base stays pinned,
// and the next forward succeeds.
func TestExtendedCutForward(t *testing.T) {
	c := newChain(t, checkpoint.Retention{})
	ext := newHop(t, c.ctx, c.clk, c.net, "ext", "replica")
	c.b.extendWith("vm", replica.ExtendConfig{Replica: ext.addr, ChunkSize: 4096})
	require.NoError(t, c.b.forwarded().Err)

	// 20 distinct blocks of 4 KiB make a stream of some 82 KB in frames
	// of 4 KiB.
	for _, n := range []int64{1, 20, 40, 80, 200, 1000, 4096, 10_000, 40_000, 70_000, 80_000} {
		last := ext.latest("vm")
		blocks := c.rng.Perm(int(c.size / extBlock))[:20]
		c.writeBlocks(0, blocks[:16])
		c.cycle(0)
		c.writeBlocks(0, blocks[16:])
		c.cycle(0)
		c.net.SetFaults("replica", "ext", memory.Faults{CutAfter: n})
		_, err := c.b.host.ForwardNow(c.ctx, "vm")
		<-c.b.fwd
		require.Error(t, err, "cut after %d bytes", n)
		t.Logf("cut after %d bytes: %v", n, err)
		assert.Equal(t, last, ext.latest("vm"), "cut after %d bytes: the extended replica stays at its point", n)
		assert.Contains(t, c.b.pins("vm"), last, "cut after %d bytes: the base stays pinned", n)
		assert.Contains(t, ids(c.b.points("vm")), last)

		c.net.SetFaults("replica", "ext", memory.Faults{})
		res, err := c.b.host.ForwardNow(c.ctx, "vm")
		<-c.b.fwd
		require.NoError(t, err, "after the cut at %d", n)
		assert.Equal(t, last, res.Base)
		assert.Equal(t, c.b.latest("vm"), ext.latest("vm"))
		sameImages(t, c.b, ext, "vm", res.Point)
		assert.Equal(t, []delta.PointID{res.Point}, c.b.pins("vm"))
	}
	st := c.b.host.Extensions()[0]
	assert.Equal(t, int64(11), st.Errors)
	assert.Equal(t, int64(12), st.Successes)
	assert.Equal(t, replica.Normal, st.Health.Level)

	// Failed forwards in a row hold the base and the latest point only.
	last := ext.latest("vm")
	c.net.SetFaults("replica", "ext", memory.Faults{CutAfter: 3000})
	for range 3 {
		p := c.cycle(4).Point
		_, err := c.b.host.ForwardNow(c.ctx, "vm")
		<-c.b.fwd
		require.Error(t, err)
		assert.Equal(t, []delta.PointID{last, p}, c.b.pins("vm"))
		assert.Equal(t, []delta.PointID{last, p}, ids(c.b.points("vm")))
	}
}

// TestExtendedAfterFailover fails the replica over to an older point and
// completes it: forwarding carries on from the completed point.
func TestExtendedAfterFailover(t *testing.T) {
	c := newChain(t, keepAll)
	ext := newHop(t, c.ctx, c.clk, c.net, "ext", "replica")
	c.b.extend("vm", ext, replica.Frequency5m, keepAll)
	require.NoError(t, c.b.forwarded().Err)
	p2 := c.cycle(10).Point
	c.cycle(10)
	res, err := c.b.host.ForwardNow(c.ctx, "vm")
	require.NoError(t, err)
	<-c.b.fwd
	p3 := res.Point
	p4 := c.cycle(10).Point

	f, err := c.b.host.Failover(c.ctx, "vm", replica.SelectPoint(p2))
	require.NoError(t, err)
	buf := make([]byte, extBlock)
	for i := range buf {
		buf[i] = 0xA5
	}
	_, err = f.Volumes()[1].WriteAt(buf, 3*extBlock)
	require.NoError(t, err)

	// Waiting completion: the chain's points still go on.
	res, err = c.b.host.ForwardNow(c.ctx, "vm")
	require.NoError(t, err)
	<-c.b.fwd
	assert.Equal(t, p4, res.Point)
	assert.Equal(t, p3, res.Base)

	require.NoError(t, c.b.host.CompleteFailover(c.ctx, "vm"))
	done := c.b.points("vm")
	require.Len(t, done, 2, "the completed point and the pinned forwarded one")
	assert.Equal(t, p4, done[0].ID)
	n := done[1].ID

	res, err = c.b.host.ForwardNow(c.ctx, "vm")
	require.NoError(t, err)
	<-c.b.fwd
	assert.Equal(t, n, res.Point)
	assert.Equal(t, p4, res.Base)
	sameImages(t, c.b, ext, "vm", n)
	img := ext.image("vm", n)
	assert.Equal(t, buf, img[1][3*extBlock:4*extBlock])
	assert.Equal(t, []delta.PointID{n}, c.b.pins("vm"))
}

// TestExtendedResumesAfterRestart restarts the forwarding host on its
// store: Extend finds the pinned point and carries on from it.
func TestExtendedResumesAfterRestart(t *testing.T) {
	c := newChain(t, checkpoint.Retention{})
	ext := newHop(t, c.ctx, c.clk, c.net, "ext", "replica")
	c.b.extend("vm", ext, replica.Frequency5m, checkpoint.Retention{})
	require.NoError(t, c.b.forwarded().Err)
	c.cycle(10)
	res, err := c.b.host.ForwardNow(c.ctx, "vm")
	require.NoError(t, err)
	<-c.b.fwd
	p2 := res.Point

	c.b.stop()
	c.b.start(true)
	c.b.extend("vm", ext, replica.Frequency5m, checkpoint.Retention{})
	st := c.b.host.Extensions()
	require.Len(t, st, 1)
	assert.Equal(t, p2, st[0].LastPoint, "found from the pin")
	c.b.serve()
	ev := c.b.forwarded() // the loop's first forward asks: nothing new
	require.NoError(t, ev.Err)
	assert.Equal(t, replica.ForwardResult{Point: p2, Base: p2, Time: ev.Result.Time, Replayed: true}, ev.Result)

	p3 := c.cycle(10).Point
	res, err = c.b.host.ForwardNow(c.ctx, "vm")
	require.NoError(t, err)
	<-c.b.fwd
	assert.Equal(t, p2, res.Base)
	assert.Equal(t, p3, res.Point)
	sameImages(t, c.b, ext, "vm", p3)
}

// TestExtendedResyncsADivergedReplica rolls the extended replica back to
// a point the replica pruned: the next forward compares hash trees and
// sends only the blocks that differ, on top of that point.
func TestExtendedResyncsADivergedReplica(t *testing.T) {
	c := newChain(t, checkpoint.Retention{})
	ext := newHop(t, c.ctx, c.clk, c.net, "ext", "replica")
	c.b.extend("vm", ext, replica.Frequency5m, keepAll)
	p1 := c.b.forwarded().Result.Point
	c.cycle(10)
	_, err := c.b.host.ForwardNow(c.ctx, "vm")
	require.NoError(t, err)
	<-c.b.fwd
	require.NoError(t, ext.group("vm").Rollback(c.ctx, p1))
	p3 := c.cycle(10).Point
	require.NotContains(t, ids(c.b.points("vm")), p1)

	// The blocks that differ between the extended replica's p1 and p3.
	old, now := ext.image("vm", p1), c.b.image("vm", p3)
	var differ int64
	for v := range old {
		for off := 0; off < len(old[v]); off += extBlock {
			if !bytesEqual(old[v][off:off+extBlock], now[v][off:off+extBlock]) {
				differ++
			}
		}
	}
	require.NotZero(t, differ)

	res, err := c.b.host.ForwardNow(c.ctx, "vm")
	require.NoError(t, err)
	<-c.b.fwd
	assert.True(t, res.Resync)
	assert.Equal(t, p1, res.Base)
	assert.Equal(t, p3, res.Point)
	assert.Equal(t, differ, res.Blocks, "only the differing blocks")
	assert.Positive(t, res.HashBytes)
	assert.Less(t, res.HashBytes, res.StreamBytes)
	assert.Equal(t, []delta.PointID{p1, p3}, ids(ext.points("vm")))
	sameImages(t, c.b, ext, "vm", p3)
	assert.Equal(t, []delta.PointID{p3}, c.b.pins("vm"))
	assert.Equal(t, replica.Normal, c.b.host.Extensions()[0].Health.Level)
}

// TestExtendedStopAndCloseLeaveNoGoroutine stops an extension, then closes
// a host with one running: their loops end.
func TestExtendedStopAndCloseLeaveNoGoroutine(t *testing.T) {
	ignore := goleak.IgnoreCurrent()
	c := newChain(t, checkpoint.Retention{})
	ext := newHop(t, c.ctx, c.clk, c.net, "ext", "replica")
	c.b.extend("vm", ext, replica.Frequency5m, checkpoint.Retention{})
	require.NoError(t, c.b.forwarded().Err)
	waitClock(t, c.clk, 1)
	require.NoError(t, c.b.host.StopExtend(c.ctx, "vm"))
	waitClock(t, c.clk, 0)
	_, err := c.b.host.ForwardNow(c.ctx, "vm")
	assert.ErrorIs(t, err, replica.ErrNotExtended)

	c.b.extend("vm", ext, replica.Frequency5m, checkpoint.Retention{})
	require.NoError(t, c.b.forwarded().Err)

	// Serve ends: the loop with it; Serve again: the loop forwards at once.
	c.cycle(1)
	c.b.cancel()
	require.NoError(t, <-c.b.served)
	waitClock(t, c.clk, 0)
	c.b.serve()
	ev := c.b.forwarded()
	require.NoError(t, ev.Err)
	assert.Equal(t, 1, ev.Result.Points)
	waitClock(t, c.clk, 1)

	ext.extend("vm", c.b, replica.Frequency15m, checkpoint.Retention{}) // a loop that only fails
	waitClock(t, c.clk, 2)
	require.NoError(t, c.p.Close())
	c.b.close()
	ext.close()
	assert.Equal(t, 0, c.clk.Timers())
	_, err = c.b.host.ForwardNow(c.ctx, "vm")
	assert.ErrorIs(t, err, replica.ErrClosed)
	goleak.VerifyNone(t, ignore)
}

// TestExtendedLostAck loses the extended replica's acknowledgement of a
// committed point: the next forward learns from its status that it has
// the point, sends nothing and releases the old base.
func TestExtendedLostAck(t *testing.T) {
	c := newChain(t, checkpoint.Retention{})
	ext := newHop(t, c.ctx, c.clk, c.net, "ext", "replica")
	c.b.extend("vm", ext, replica.Frequency5m, checkpoint.Retention{})
	p1 := c.b.forwarded().Result.Point
	p2 := c.cycle(10).Point

	// Frame 0 from the extended replica is its Status, frame 1 the Ack.
	c.net.SetFaults("ext", "replica", memory.Faults{Hook: func(f memory.FrameInfo) memory.Action {
		if f.Index == 1 {
			return memory.Cut
		}
		return memory.Deliver
	}})
	_, err := c.b.host.ForwardNow(c.ctx, "vm")
	<-c.b.fwd
	require.ErrorIs(t, err, transport.ErrConnectionLost)
	assert.Equal(t, p2, ext.latest("vm"), "committed, unacknowledged")
	assert.ElementsMatch(t, []delta.PointID{p1, p2}, c.b.pins("vm"), "both held while in doubt")
	assert.Equal(t, p1, c.b.host.Extensions()[0].LastPoint)

	c.net.SetFaults("ext", "replica", memory.Faults{})
	res, err := c.b.host.ForwardNow(c.ctx, "vm")
	<-c.b.fwd
	require.NoError(t, err)
	assert.Equal(t, replica.ForwardResult{Point: p2, Base: p2, Time: res.Time, Replayed: true}, res)
	assert.Equal(t, []delta.PointID{p2}, c.b.pins("vm"))
	assert.Equal(t, []delta.PointID{p2}, ids(c.b.points("vm")))
	assert.Equal(t, p2, c.b.host.Extensions()[0].LastPoint)
	sameImages(t, c.b, ext, "vm", p2)
}

// TestExtendedBackoff partitions the hops: the scheduled forward fails,
// health turns Warning, the retry waits a minute, and the schedule goes
// back to the frequency once a forward succeeds.
func TestExtendedBackoff(t *testing.T) {
	c := newChain(t, checkpoint.Retention{})
	ext := newHop(t, c.ctx, c.clk, c.net, "ext", "replica")
	start := c.clk.Now()
	c.b.extend("vm", ext, replica.Frequency5m, checkpoint.Retention{})
	require.NoError(t, c.b.forwarded().Err)
	waitClock(t, c.clk, 1)
	assert.Equal(t, []time.Time{start.Add(replica.Frequency5m)}, c.clk.Deadlines())

	p2 := c.cycle(10).Point
	c.net.Partition("replica", "ext")
	c.clk.Set(start.Add(replica.Frequency5m))
	ev := c.b.forwarded()
	require.ErrorIs(t, ev.Err, transport.ErrUnreachable)
	waitClock(t, c.clk, 1)
	assert.Equal(t, []time.Time{start.Add(replica.Frequency5m + time.Minute)}, c.clk.Deadlines())
	st := c.b.host.Extensions()[0]
	assert.Equal(t, replica.Warning, st.Health.Level)
	assert.Equal(t, int64(1), st.Errors)

	c.net.Heal("replica", "ext")
	c.clk.Advance(time.Minute)
	ev = c.b.forwarded()
	require.NoError(t, ev.Err)
	assert.Equal(t, p2, ev.Result.Point)
	waitClock(t, c.clk, 1)
	assert.Equal(t, []time.Time{start.Add(2*replica.Frequency5m + time.Minute)}, c.clk.Deadlines())
	assert.Equal(t, replica.Normal, c.b.host.Extensions()[0].Health.Level)

	// An hour without a successful forward is Critical.
	c.net.Partition("replica", "ext")
	c.cycle(1)
	for i := 0; c.clk.Now().Sub(start) < 2*time.Hour; i++ {
		c.clk.Set(c.clk.Deadlines()[0])
		require.Error(t, c.b.forwarded().Err)
		waitClock(t, c.clk, 1)
	}
	st = c.b.host.Extensions()[0]
	assert.Equal(t, replica.Critical, st.Health.Level, "%v", st.Health.Reasons)
}

// pause ends h's Serve; its listener stays, so dials to it succeed and
// wait for an answer that never comes.
func (h *hop) pause() {
	h.cancel()
	require.NoError(h.t, <-h.served)
	h.cancel = nil
}

// TestExtendedStopDuringForward stops an extension whose forward waits
// for an extended replica that does not answer: StopExtend ends it at
// once, the stop is not counted as an error, and nothing stays pinned.
func TestExtendedStopDuringForward(t *testing.T) {
	c := newChain(t, checkpoint.Retention{})
	ext := newHop(t, c.ctx, c.clk, c.net, "ext", "replica")
	ext.pause()
	c.b.extend("vm", ext, replica.Frequency5m, checkpoint.Retention{})
	// The forward has dialed: its Hello waits for a Status.
	conn, err := ext.l.Accept(c.ctx)
	require.NoError(t, err)
	defer conn.Close()
	stopped := make(chan error, 1)
	go func() { stopped <- c.b.host.StopExtend(c.ctx, "vm") }()
	ev := c.b.forwarded()
	assert.ErrorIs(t, ev.Err, context.Canceled)
	require.NoError(t, <-stopped)
	assert.Empty(t, c.b.pins("vm"))
	assert.Empty(t, c.b.host.Extensions())
	waitClock(t, c.clk, 0)
}

// TestExtendedTimeout bounds a forward to an extended replica that does
// not answer: it fails with ErrForwardTimeout when the clock says so, and
// is retried after the back-off.
func TestExtendedTimeout(t *testing.T) {
	c := newChain(t, checkpoint.Retention{})
	ext := newHop(t, c.ctx, c.clk, c.net, "ext", "replica")
	ext.pause()
	start := c.clk.Now()
	c.b.extendWith("vm", replica.ExtendConfig{Replica: ext.addr, Timeout: time.Minute})
	conn, err := ext.l.Accept(c.ctx)
	require.NoError(t, err)
	defer conn.Close()
	waitClock(t, c.clk, 1) // the forward's timeout
	c.clk.Advance(time.Minute)
	ev := c.b.forwarded()
	require.ErrorIs(t, ev.Err, replica.ErrForwardTimeout)
	waitClock(t, c.clk, 1)
	assert.Equal(t, []time.Time{start.Add(2 * time.Minute)}, c.clk.Deadlines(), "retried after a minute's back-off")
	st := c.b.host.Extensions()[0]
	assert.Equal(t, int64(1), st.Errors)
	assert.Equal(t, replica.Warning, st.Health.Level)
}

// TestExtendedReplicaFailedOver fails the extended replica over: forwards
// are refused with ErrReplicaFailedOver and change nothing there; after
// CancelFailover the next forward goes through.
func TestExtendedReplicaFailedOver(t *testing.T) {
	c := newChain(t, checkpoint.Retention{})
	ext := newHop(t, c.ctx, c.clk, c.net, "ext", "replica")
	c.b.extend("vm", ext, replica.Frequency5m, checkpoint.Retention{})
	p1 := c.b.forwarded().Result.Point
	_, err := ext.host.Failover(c.ctx, "vm", replica.SelectLatest)
	require.NoError(t, err)
	p2 := c.cycle(10).Point

	_, err = c.b.host.ForwardNow(c.ctx, "vm")
	<-c.b.fwd
	require.ErrorIs(t, err, replica.ErrReplicaFailedOver)
	assert.ErrorIs(t, err, replica.ErrInvalidState)
	assert.Equal(t, p1, ext.latest("vm"))
	assert.Equal(t, []delta.PointID{p1}, c.b.pins("vm"))
	assert.Equal(t, replica.Warning, c.b.host.Extensions()[0].Health.Level)

	require.NoError(t, ext.host.CancelFailover(c.ctx, "vm"))
	res, err := c.b.host.ForwardNow(c.ctx, "vm")
	<-c.b.fwd
	require.NoError(t, err)
	assert.Equal(t, p2, res.Point)
	sameImages(t, c.b, ext, "vm", p2)
}

// TestExtendedContentMismatch gives the extended replica a point with the
// replica's id and other content: the forward on it is refused with
// ErrForwardMismatch, and the forward of the next point compares hash
// trees and repairs it.
func TestExtendedContentMismatch(t *testing.T) {
	c := newChain(t, keepAll) // p1 stays, so the forward builds on it
	ext := newHop(t, c.ctx, c.clk, c.net, "ext", "replica")
	bg := c.b.group("vm")
	p1, err := bg.Latest(c.ctx)
	require.NoError(t, err)
	spec := bg.Spec()
	eg, err := ext.store.CreateGroup(c.ctx, "vm", spec)
	require.NoError(t, err)
	var vols []io.ReaderAt
	var blocks []*delta.Set
	for i, v := range spec.Volumes {
		img := make([]byte, v.Size)
		s := delta.NewSet(v.Size / extBlock)
		if i == 0 {
			copy(img, bytes.Repeat([]byte{0x5A}, extBlock))
			s.Add(0)
		}
		vols, blocks = append(vols, bytes.NewReader(img)), append(blocks, s)
	}
	src, err := delta.NewSource(vols, spec.Geometries(), blocks)
	require.NoError(t, err)
	var stream bytes.Buffer
	enc, err := delta.NewEncoder(&stream, delta.Header{Group: "vm", New: p1.ID, Time: p1.Time, Consistency: p1.Consistency, BlockSize: spec.BlockSize, Volumes: spec.Volumes})
	require.NoError(t, err)
	_, err = enc.Encode(c.ctx, src)
	require.NoError(t, err)
	_, err = eg.Apply(c.ctx, &stream)
	require.NoError(t, err)
	p2 := c.cycle(10).Point

	c.b.extend("vm", ext, replica.Frequency5m, checkpoint.Retention{})
	ev := c.b.forwarded()
	require.ErrorIs(t, ev.Err, replica.ErrForwardMismatch)
	assert.Equal(t, p2, ext.latest("vm"), "applied on the wrong base")
	assert.Equal(t, replica.Critical, c.b.host.Extensions()[0].Health.Level)
	_, err = c.b.host.ForwardNow(c.ctx, "vm")
	<-c.b.fwd
	require.ErrorIs(t, err, replica.ErrForwardMismatch, "no newer point to repair it with")

	p3 := c.cycle(10).Point
	res, err := c.b.host.ForwardNow(c.ctx, "vm")
	<-c.b.fwd
	require.NoError(t, err)
	assert.True(t, res.Resync)
	assert.Equal(t, p2, res.Base)
	assert.Equal(t, p3, res.Point)
	sameImages(t, c.b, ext, "vm", p3)
	assert.Equal(t, replica.Normal, c.b.host.Extensions()[0].Health.Level)
	assert.Equal(t, []delta.PointID{p3}, c.b.pins("vm"))
}
