package replica_test

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/blockrep/blockrep/checkpoint"
	"github.com/blockrep/blockrep/checkpoint/vfs"
	"github.com/blockrep/blockrep/replica"
	"github.com/blockrep/blockrep/replica/replicatest"
	"github.com/blockrep/blockrep/transport"
	"github.com/blockrep/blockrep/transport/memory"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// roleHost is one machine of a two-host scenario: a PrimaryHost and a
// ReplicaHost (whose Primary it is) with a store of its own, on the shared
// in-memory network. Its ReplicaHost listens at name+":1" and lets the
// other host replicate any group.
type roleHost struct {
	w        *twoHosts
	name     string
	peer     string
	fsys     vfs.FS
	store    *checkpoint.DirStore
	rh       *replica.ReplicaHost
	p        *replica.PrimaryHost
	listener transport.Listener
	serveCtx context.Context
	stop     context.CancelFunc
	served   chan error
	promoted chan [2]string // OnPromoted calls: group, reverse address
	// onPromoted, when set before the promotion, runs in OnPromoted.
	onPromoted func(group, to string)
	events     chan replica.CycleEvent // the primary host's OnCycle
}

func (h *roleHost) addr() string { return h.name + ":1" }

// twoHosts is hosts A and B on one in-memory network with a fake clock.
type twoHosts struct {
	t    *testing.T
	ctx  context.Context
	clk  *replicatest.Clock
	net  *memory.Network
	a, b *roleHost
}

func newTwoHosts(t *testing.T) *twoHosts {
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	net, err := memory.NewNetwork(1)
	require.NoError(t, err)
	w := &twoHosts{t: t, ctx: ctx, clk: replicatest.NewClock(epoch), net: net}
	w.a = w.newHost("A", "B")
	w.b = w.newHost("B", "A")
	return w
}

func (w *twoHosts) newHost(name, peer string) *roleHost {
	h := &roleHost{w: w, name: name, peer: peer, fsys: vfs.NewMem(), promoted: make(chan [2]string, 8), events: make(chan replica.CycleEvent, 64)}
	var err error
	h.p, err = replica.NewPrimaryHost(replica.PrimaryConfig{
		Transport: w.net.Endpoint(name), Clock: w.clk, Rand: rand.NewChaCha8([32]byte{name[0]}),
		OnCycle: func(ev replica.CycleEvent) {
			select {
			case h.events <- ev:
			default:
			}
		},
	})
	require.NoError(w.t, err)
	h.listener, err = w.net.Endpoint(name).Listen(w.ctx, h.addr())
	require.NoError(w.t, err)
	h.startReplica()
	w.t.Cleanup(func() {
		require.NoError(w.t, h.p.Close())
		h.stopReplica()
		h.listener.Close()
	})
	return h
}

// startReplica opens the store and serves a new ReplicaHost on it.
func (h *roleHost) startReplica() {
	t := h.w.t
	var err error
	h.store, err = checkpoint.Open(h.fsys, "store", checkpoint.WithClock(h.w.clk.Now))
	require.NoError(t, err)
	auth, err := transport.NewAuthorizer([]transport.AuthEntry{{Peer: h.peer, Group: "*", Storage: "."}})
	require.NoError(t, err)
	h.rh, err = replica.NewReplicaHost(replica.ReplicaConfig{
		Listener: h.listener, Store: h.store, Authorizer: auth, Clock: h.w.clk, Primary: h.p,
		OnPromoted: func(group, to string) {
			if h.onPromoted != nil {
				h.onPromoted(group, to)
			}
			h.promoted <- [2]string{group, to}
		},
	})
	require.NoError(t, err)
	h.serveCtx, h.stop = context.WithCancel(h.w.ctx)
	h.served = make(chan error, 1)
	go func() { h.served <- h.rh.Serve(h.serveCtx) }()
}

// stopReplica ends the ReplicaHost and closes its store, as a process
// exit would.
func (h *roleHost) stopReplica() {
	if h.rh == nil {
		return
	}
	h.stop()
	require.NoError(h.w.t, <-h.served)
	require.NoError(h.w.t, h.rh.Close())
	require.NoError(h.w.t, h.store.Close())
	h.rh = nil
}

// restartReplica is a restart of the replica host on the same store.
func (h *roleHost) restartReplica() {
	h.stopReplica()
	h.startReplica()
}

// latestImages reads every volume of the latest point of group in h's store.
func (h *roleHost) latestImages(group string) (checkpoint.Point, [][]byte) {
	t := h.w.t
	g, err := h.store.Group(h.w.ctx, group)
	require.NoError(t, err)
	p, err := g.Latest(h.w.ctx)
	require.NoError(t, err)
	view, err := g.OpenPoint(h.w.ctx, p.ID)
	require.NoError(t, err)
	defer view.Close()
	var out [][]byte
	for _, v := range view.Volumes() {
		out = append(out, readAllAt(t, v, v.Size()))
	}
	return p, out
}

func (h *roleHost) state(group string) replica.State {
	rg, err := h.rh.Group(h.w.ctx, group)
	require.NoError(h.w.t, err)
	return rg.State
}

func readAllAt(t testing.TB, r io.ReaderAt, size int64) []byte {
	b := make([]byte, size)
	n, err := r.ReadAt(b, 0)
	if err == io.EOF && int64(n) == size {
		err = nil
	}
	require.NoError(t, err)
	return b
}

// images reads every volume of a relationship through Volume(i).
func images(t testing.TB, rel *replica.Relationship, size int64) [][]byte {
	var out [][]byte
	for i := range rel.Volumes() {
		out = append(out, readAllAt(t, rel.Volume(i), size))
	}
	return out
}

// writeBlocks writes a random 4 KiB block at each index of blocks on v.
func writeBlocks(t testing.TB, rng *rand.Rand, v replica.Volume, blocks ...int64) {
	writeBlocksOf(t, rng, v, 4096, blocks...)
}

// writeBlocksOf writes a random block of bs bytes at each index of blocks.
func writeBlocksOf(t testing.TB, rng *rand.Rand, v replica.Volume, bs int64, blocks ...int64) {
	for _, b := range blocks {
		buf := make([]byte, bs)
		for i := range buf {
			buf[i] = byte(rng.Uint32())
		}
		_, err := v.WriteAt(buf, b*bs)
		require.NoError(t, err)
	}
}

const plannedSize = 256 << 10 // 64 blocks of 4 KiB a volume

// enableOnA enables group vm1 of two volumes on A, replicating to B, and
// runs its initial replication and one cycle.
func (w *twoHosts) enableOnA(rng *rand.Rand) (*replica.Relationship, []*memVolume) {
	cfg, vols := groupConfig("vm1", plannedSize, 2)
	cfg.Replica = w.b.addr()
	cfg.Metadata = []byte("vm config")
	cfg.FailoverSettings = []byte("ip=10.0.0.2")
	for i := range vols {
		writeBlocks(w.t, rng, vols[i], 0, 5, 6, 40)
	}
	rel, err := w.a.p.Enable(w.ctx, cfg)
	require.NoError(w.t, err)
	_, err = rel.InitialReplication(w.ctx)
	require.NoError(w.t, err)
	writeBlocks(w.t, rng, rel.Volume(0), 1, 2)
	_, err = rel.Cycle(w.ctx)
	require.NoError(w.t, err)
	return rel, vols
}

// Planned failover while a writer writes: the writes are stopped, the
// final point is A's last image byte for byte, B is promoted and told
// where A's replica host listens; A demotes, B reverses, and five cycles
// B→A while B writes send exactly the blocks written on B, each leaving
// A's store equal to B's image — no resynchronization.
func TestPlannedFailoverReverseNoResync(t *testing.T) {
	seed := uint64(rand.Uint32())
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 1))
	w := newTwoHosts(t)
	rel, vols := w.enableOnA(rng)

	// A writer goes on writing until the gate stops it.
	var (
		wg      sync.WaitGroup
		ahead   = make(chan struct{})
		refused = make(chan error, 1)
	)
	wg.Add(1)
	go func() {
		defer wg.Done()
		wrng := rand.New(rand.NewPCG(seed, 2))
		buf := make([]byte, 1000)
		for n := 1; ; n++ {
			for i := range buf {
				buf[i] = byte(wrng.Uint32())
			}
			off := wrng.Int64N(plannedSize - int64(len(buf)))
			if _, err := rel.Volume(wrng.IntN(2)).WriteAt(buf, off); err != nil {
				refused <- err
				return
			}
			if n == 50 {
				close(ahead) // 50 writes before the failover; more during it
			}
		}
	}()
	<-ahead
	res, err := rel.PlannedFailover(w.ctx, replica.WithReverseTo(w.a.addr()))
	require.NoError(t, err)
	wg.Wait()
	assert.ErrorIs(t, <-refused, replica.ErrPreparedForFailover)
	assert.Equal(t, replica.PreparedForFailover, rel.State())
	_, err = rel.Volume(0).WriteAt([]byte{1}, 0)
	assert.ErrorIs(t, err, replica.ErrPreparedForFailover, "writes stay refused")

	want := [][]byte{vols[0].snapshot(), vols[1].snapshot()}
	pt, got := w.b.latestImages("vm1")
	assert.Equal(t, res.Point, pt.ID)
	assert.Equal(t, res.Hash, pt.Hash)
	assert.True(t, pt.Time.Equal(res.Time))
	assert.Equal(t, want, got, "the final point is A's last image")
	assert.Equal(t, replica.FailedOver, w.b.state("vm1"))
	assert.Equal(t, [2]string{"vm1", w.a.addr()}, <-w.b.promoted)

	// A becomes the replica: its store holds the final point itself.
	require.NoError(t, w.a.p.Demote(w.ctx, "vm1", w.a.rh))
	assert.Empty(t, w.a.p.Relationships())
	_, err = rel.Cycle(w.ctx)
	assert.ErrorIs(t, err, replica.ErrClosed)
	apt, agot := w.a.latestImages("vm1")
	assert.Equal(t, res.Point, apt.ID)
	assert.Equal(t, res.Hash, apt.Hash)
	assert.Equal(t, want, agot)
	rg, err := w.a.rh.Group(w.ctx, "vm1")
	require.NoError(t, err)
	assert.Equal(t, "vm config", string(rg.Metadata))
	assert.Equal(t, "ip=10.0.0.2", string(rg.FailoverSettings))
	assert.Equal(t, replica.Replicating, rg.State)

	// B becomes the primary and replicates back.
	rb, err := w.b.rh.Reverse(w.ctx, "vm1", w.b.p, replica.ReverseConfig{Replica: w.a.addr()})
	require.NoError(t, err)
	last, _, _ := rb.LastPoint()
	assert.Equal(t, res.Point, last)
	assert.Equal(t, want, images(t, rb, plannedSize), "B starts from the final point")
	for c := range 5 {
		blocks := []int64{int64(c), int64(10 + c), int64(10 + c)} // one written twice
		writeBlocks(t, rng, rb.Volume(0), blocks...)
		writeBlocks(t, rng, rb.Volume(1), 63)
		cr, err := rb.Cycle(w.ctx)
		require.NoError(t, err, "cycle %d", c)
		assert.Equal(t, int64(3), cr.Blocks, "cycle %d sends only the blocks written on B", c)
		apt, agot := w.a.latestImages("vm1")
		assert.Equal(t, cr.Point, apt.ID)
		assert.Equal(t, images(t, rb, plannedSize), agot, "cycle %d: A's store equals B's image", c)
	}
	assert.Equal(t, replica.ResyncResult{}, rb.LastResync(), "no resynchronization")
	assert.Equal(t, replica.Replicating, rb.State())
}

// Failback: A→B by planned failover, then B→A the same way, byte for byte
// and without resynchronization; the second Demote commits B's clone into
// B's own store instead of copying.
func TestFailbackRoundTrip(t *testing.T) {
	seed := uint64(rand.Uint32())
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 1))
	w := newTwoHosts(t)
	rel, vols := w.enableOnA(rng)
	writeBlocks(t, rng, rel.Volume(1), 7, 8, 9)

	res, err := rel.PlannedFailover(w.ctx)
	require.NoError(t, err)
	assert.Equal(t, int64(3), res.Blocks, "the final cycle sends what was dirty")
	assert.Equal(t, [2]string{"vm1", ""}, <-w.b.promoted)
	require.NoError(t, w.a.p.Demote(w.ctx, "vm1", w.a.rh))
	rb, err := w.b.rh.Reverse(w.ctx, "vm1", w.b.p, replica.ReverseConfig{Replica: w.a.addr()})
	require.NoError(t, err)
	writeBlocks(t, rng, rb.Volume(0), 20, 21)
	c1, err := rb.Cycle(w.ctx)
	require.NoError(t, err)
	assert.Equal(t, int64(2), c1.Blocks)

	// Back to A.
	writeBlocks(t, rng, rb.Volume(1), 30, 31, 32, 33)
	bImage := func() [][]byte { return images(t, rb, plannedSize) }
	res2, err := rb.PlannedFailover(w.ctx, replica.WithReverseTo(w.b.addr()))
	require.NoError(t, err)
	assert.Equal(t, int64(4), res2.Blocks)
	final := bImage()
	assert.Equal(t, [2]string{"vm1", w.b.addr()}, <-w.a.promoted)
	assert.Equal(t, replica.FailedOver, w.a.state("vm1"))

	require.NoError(t, w.b.p.Demote(w.ctx, "vm1", w.b.rh))
	bpt, bgot := w.b.latestImages("vm1")
	assert.Equal(t, res2.Point, bpt.ID, "the failback commits B's image as the final point")
	assert.Equal(t, res2.Hash, bpt.Hash)
	assert.Equal(t, final, bgot)
	assert.Equal(t, replica.Replicating, w.b.state("vm1"))
	g, err := w.b.store.Group(w.ctx, "vm1")
	require.NoError(t, err)
	clones, err := g.Clones(w.ctx)
	require.NoError(t, err)
	assert.Empty(t, clones, "the new primary's clone is discarded")

	ra, err := w.a.rh.Reverse(w.ctx, "vm1", w.a.p, replica.ReverseConfig{Replica: w.b.addr()})
	require.NoError(t, err)
	assert.Equal(t, final, images(t, ra, plannedSize))
	writeBlocks(t, rng, ra.Volume(0), 50, 51, 52)
	c2, err := ra.Cycle(w.ctx)
	require.NoError(t, err)
	assert.Equal(t, int64(3), c2.Blocks)
	assert.Equal(t, res2.Point, c2.Base)
	_, bgot = w.b.latestImages("vm1")
	assert.Equal(t, images(t, ra, plannedSize), bgot, "A→B→A: B's store equals A's image")
	assert.Equal(t, replica.ResyncResult{}, ra.LastResync())
	assert.Equal(t, replica.ResyncResult{}, rb.LastResync())
	_ = vols
}

// A planned failover whose connection is cut at any frame, either way,
// ends fully promoted, or back to Replicating with writes allowed and
// nothing lost: a retry then completes it, and B ends with A's image.
func TestPlannedFailoverCutAnywhere(t *testing.T) {
	for _, dir := range []string{"A→B", "B→A"} {
		for k := int64(1); ; k++ {
			cut := false
			done := t.Run(fmt.Sprintf("%s frame %d", dir, k), func(t *testing.T) {
				rng := rand.New(rand.NewPCG(uint64(k), 7))
				w := newTwoHosts(t)
				rel, vols := w.enableOnA(rng)
				writeBlocks(t, rng, rel.Volume(0), 3, 4, 30)
				from, to := "A", "B"
				if dir == "B→A" {
					from, to = to, from
				}
				var frames atomic.Int64
				w.net.SetFaults(from, to, memory.Faults{Hook: func(memory.FrameInfo) memory.Action {
					if frames.Add(1) == k {
						return memory.Cut
					}
					return memory.Deliver
				}})
				_, err := rel.PlannedFailover(w.ctx)
				w.net.SetFaults(from, to, memory.Faults{})
				if frames.Load() < k {
					require.NoError(t, err)
					return
				}
				cut = true
				want := [][]byte{vols[0].snapshot(), vols[1].snapshot()}
				if err == nil {
					assert.Equal(t, replica.PreparedForFailover, rel.State())
				} else {
					t.Logf("cut: %v", err)
					assert.Equal(t, replica.Replicating, rel.State())
					if w.b.state("vm1") != replica.FailedOver {
						writeBlocks(t, rng, rel.Volume(1), 60) // writes allowed again
						want = [][]byte{vols[0].snapshot(), vols[1].snapshot()}
					}
					// Promoted already (the acknowledgement was lost): the
					// retry, without writes, is acknowledged again.
					_, err = rel.PlannedFailover(w.ctx)
					require.NoError(t, err, "the retry completes")
					assert.Equal(t, replica.PreparedForFailover, rel.State())
				}
				assert.Equal(t, replica.FailedOver, w.b.state("vm1"))
				_, got := w.b.latestImages("vm1")
				assert.Equal(t, want, got, "nothing lost")
			})
			if !done {
				return
			}
			if t.Failed() || !cut {
				break // a run that completed before its cut frame ends the loop
			}
		}
	}
}

// Refusals: each leaves both sides as they were.
func TestPlannedFailoverAndReverseRefusals(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 3))
	w := newTwoHosts(t)
	rel, vols := w.enableOnA(rng)

	_, err := rel.PlannedFailover(w.ctx, replica.WithReverseTo(string(make([]byte, 256))))
	assert.ErrorIs(t, err, replica.ErrInvalidConfig)
	_, err = w.b.rh.Reverse(w.ctx, "vm1", w.b.p, replica.ReverseConfig{Replica: w.a.addr()})
	var se *replica.StateError
	require.ErrorAs(t, err, &se, "a Replicating group is not reversed")
	assert.Equal(t, replica.Replicating, se.From)
	assert.ErrorIs(t, w.a.p.Demote(w.ctx, "vm1", nil), replica.ErrInvalidConfig)
	assert.ErrorIs(t, w.a.p.Demote(w.ctx, "nope", w.a.rh), replica.ErrUnknownGroup)
	assert.ErrorIs(t, w.b.rh.DiscardFailover(w.ctx, "vm1", w.b.p), replica.ErrInvalidState)

	// A test failover on the replica refuses the promotion: A is back to
	// Replicating, writes allowed, nothing promoted.
	_, err = w.b.rh.StartTestFailover(w.ctx, "vm1", replica.SelectLatest)
	require.NoError(t, err)
	writeBlocks(t, rng, rel.Volume(0), 7)
	_, err = rel.PlannedFailover(w.ctx)
	var remote *replica.RemoteError
	require.ErrorAs(t, err, &remote)
	assert.Equal(t, replica.CodeStateConflict, remote.Code)
	assert.Equal(t, replica.Replicating, rel.State())
	assert.Equal(t, replica.TestFailoverRunning, w.b.state("vm1"))
	writeBlocks(t, rng, rel.Volume(0), 8) // writes allowed again
	require.NoError(t, w.b.rh.StopTestFailover(w.ctx, "vm1"))
	res, err := rel.PlannedFailover(w.ctx)
	require.NoError(t, err)
	assert.Equal(t, int64(1), res.Blocks, "block 7 went in the refused attempt's final cycle, 8 in this one")
	_, err = rel.PlannedFailover(w.ctx)
	require.ErrorAs(t, err, &se, "prepared already")
	_, got := w.b.latestImages("vm1")
	assert.Equal(t, [][]byte{vols[0].snapshot(), vols[1].snapshot()}, got)

	// Reverse once; again is refused until the relationship is removed.
	require.NoError(t, w.a.p.Demote(w.ctx, "vm1", w.a.rh))
	_, err = w.b.rh.Reverse(w.ctx, "vm1", w.b.p, replica.ReverseConfig{})
	assert.ErrorIs(t, err, replica.ErrInvalidConfig, "no replica address")
	rb, err := w.b.rh.Reverse(w.ctx, "vm1", w.b.p, replica.ReverseConfig{Replica: w.a.addr()})
	require.NoError(t, err)
	_, err = w.b.rh.Reverse(w.ctx, "vm1", w.b.p, replica.ReverseConfig{Replica: w.a.addr()})
	assert.ErrorIs(t, err, replica.ErrGroupExists)
	require.NoError(t, w.b.p.Remove(w.ctx, "vm1"))
	_, err = rb.Volume(0).WriteAt([]byte{1}, 0)
	require.Error(t, err)
	rb, err = w.b.rh.Reverse(w.ctx, "vm1", w.b.p, replica.ReverseConfig{Replica: w.a.addr()})
	require.NoError(t, err)
	assert.Equal(t, [][]byte{vols[0].snapshot(), vols[1].snapshot()}, images(t, rb, plannedSize))
	// Demote of the old primary twice: it is gone.
	assert.ErrorIs(t, w.a.p.Demote(w.ctx, "vm1", w.a.rh), replica.ErrUnknownGroup)
}

// A volume written behind the tracker's back makes the final point differ
// from the primary's image: ErrFailoverMismatch, nothing promoted, writes
// allowed again, and a resynchronization then makes the sides identical so
// that the planned failover goes through.
func TestPlannedFailoverMismatch(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 5))
	w := newTwoHosts(t)
	rel, vols := w.enableOnA(rng)
	writeBlocks(t, rng, vols[1], 17) // not through rel.Volume: untracked
	_, err := rel.PlannedFailover(w.ctx)
	require.ErrorIs(t, err, replica.ErrFailoverMismatch)
	assert.Equal(t, replica.ResynchronizationRequired, rel.State())
	assert.Equal(t, replica.Replicating, w.b.state("vm1"), "nothing promoted")
	writeBlocks(t, rng, rel.Volume(0), 18) // writes allowed again

	rr, err := rel.Resynchronize(w.ctx)
	require.NoError(t, err)
	assert.Equal(t, int64(2), rr.DifferingBlocks)
	res, err := rel.PlannedFailover(w.ctx)
	require.NoError(t, err)
	_, got := w.b.latestImages("vm1")
	assert.Equal(t, [][]byte{vols[0].snapshot(), vols[1].snapshot()}, got)
	assert.Equal(t, res.Point.String(), rel.Stats().LastPoint)
}

// A host tool that reverses by itself: B's OnPromoted calls Reverse toward
// the address the planned failover named, and B's Run cycles the new
// relationship at its frequency.
func TestOnPromotedReversesAndRunCycles(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 9))
	w := newTwoHosts(t)
	rel, _ := w.enableOnA(rng)
	reversed := make(chan *replica.Relationship, 1)
	w.b.onPromoted = func(group, to string) {
		rb, err := w.b.rh.Reverse(w.ctx, group, w.b.p, replica.ReverseConfig{Replica: to, Frequency: replica.Frequency30s})
		assert.NoError(t, err)
		reversed <- rb
	}
	_, err := rel.PlannedFailover(w.ctx, replica.WithReverseTo(w.a.addr()))
	require.NoError(t, err)
	rb := <-reversed
	<-w.b.promoted
	require.NoError(t, w.a.p.Demote(w.ctx, "vm1", w.a.rh))

	ctx, cancel := context.WithCancel(w.ctx)
	done := make(chan error, 1)
	go func() { done <- w.b.p.Run(ctx) }()
	defer func() {
		cancel()
		require.NoError(t, <-done)
	}()
	writeBlocks(t, rng, rb.Volume(0), 25, 26)
	require.NoError(t, w.clk.BlockUntil(w.ctx, 1))
	w.clk.Advance(replica.Frequency30s)
	ev := <-w.b.events
	require.NoError(t, ev.Err)
	assert.Equal(t, int64(2), ev.Result.Blocks)
	_, got := w.a.latestImages("vm1")
	assert.Equal(t, images(t, rb, plannedSize), got)
}
