package replica_test

import (
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/blockrep/blockrep/checkpoint"
	"github.com/blockrep/blockrep/delta"
	"github.com/blockrep/blockrep/replica"
	"github.com/blockrep/blockrep/transport"
	"github.com/blockrep/blockrep/transport/memory"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// restartPrimary ends h's primary host (its relationships close, persistent
// tracking is saved) and starts a new one, with the replica host restarted
// to name it as its Primary.
func (h *roleHost) restartPrimary() {
	t := h.w.t
	require.NoError(t, h.p.Close())
	h.stopReplica()
	var err error
	h.p, err = replica.NewPrimaryHost(replica.PrimaryConfig{Transport: h.w.net.Endpoint(h.name), Clock: h.w.clk, Rand: rand.NewChaCha8([32]byte{h.name[0], 1})})
	require.NoError(t, err)
	h.startReplica()
}

// unplanned is the story both unplanned-reverse tests share, up to the
// old primary's Demote: A replicates vm1 (persistent tracking) through
// points P1..P3, writes blocks it never sends, and goes away; B fails over
// to P2, writes, and completes. keepTracking says whether A's tracking
// state survives its restart.
type unplanned struct {
	w      *twoHosts
	bs     int64 // block size
	size   int64 // volume size: 64 blocks
	cfg    replica.GroupConfig
	p3     delta.PointID
	failed delta.PointID // the completed failover's point on B
}

func newUnplanned(t *testing.T, rng *rand.Rand, keepTracking bool, bs int64) *unplanned {
	w := newTwoHosts(t)
	track := filepath.Join(t.TempDir(), "vm1.track")
	sf, err := delta.CreateStateFile(track)
	require.NoError(t, err)
	cfg, vols := groupConfig("vm1", 64*bs, 2)
	cfg.BlockSize = int(bs)
	cfg.Replica = w.b.addr()
	cfg.TrackerState = sf
	cfg.Retention = checkpoint.Retention{Additional: 4, Spacing: time.Minute}
	for i := range vols {
		writeBlocksOf(t, rng, vols[i], bs, 0, 5, 6, 40)
	}
	rel, err := w.a.p.Enable(w.ctx, cfg)
	require.NoError(t, err)
	_, err = rel.InitialReplication(w.ctx)
	require.NoError(t, err)
	writeBlocksOf(t, rng, rel.Volume(0), bs, 1, 2)
	w.clk.Advance(2 * time.Minute)
	p2, err := rel.Cycle(w.ctx)
	require.NoError(t, err)
	writeBlocksOf(t, rng, rel.Volume(0), bs, 10, 11)
	writeBlocksOf(t, rng, rel.Volume(1), bs, 12)
	w.clk.Advance(2 * time.Minute)
	p3, err := rel.Cycle(w.ctx)
	require.NoError(t, err)
	// Written on A, never sent.
	writeBlocksOf(t, rng, rel.Volume(0), bs, 20, 21)
	writeBlocksOf(t, rng, rel.Volume(1), bs, 22)

	// A goes away; B fails over to P2, writes, and completes.
	w.a.restartPrimary()
	fo, err := w.b.rh.Failover(w.ctx, "vm1", replica.SelectPoint(p2.Point))
	require.NoError(t, err)
	writeBlocksOf(t, rng, fo.Volumes()[0], bs, 21, 30)
	writeBlocksOf(t, rng, fo.Volumes()[1], bs, 31)
	require.NoError(t, w.b.rh.CompleteFailover(w.ctx, "vm1"))
	pt, _ := w.b.latestImages("vm1")

	// A comes back, reattached with its tracking (or not).
	if !keepTracking {
		require.NoError(t, os.Remove(track))
	}
	sf, err = delta.OpenStateFile(track)
	if err != nil {
		sf, err = delta.CreateStateFile(track + ".new")
		require.NoError(t, err)
	}
	cfg.TrackerState = sf
	relA, err := w.a.p.Reattach(w.ctx, cfg, p3.Point)
	require.NoError(t, err)
	if keepTracking {
		require.Equal(t, replica.Replicating, relA.State())
		assert.Equal(t, 3*bs, relA.Stats().PendingBytes, "A's unsent writes survived")
	} else {
		require.Equal(t, replica.ResynchronizationRequired, relA.State())
	}
	return &unplanned{w: w, bs: bs, size: 64 * bs, cfg: cfg, p3: p3.Point, failed: pt.ID}
}

// Unplanned failover, then reverse: B sends exactly the blocks changed on
// either side since P3 — those B's failover changed (rolled back to P2 and
// written), those A wrote and never sent, those written on B since — and A
// ends identical to B, checked by content hash and byte for byte.
func TestUnplannedReverseSendsUnionOfChangeMaps(t *testing.T) {
	seed := uint64(rand.Uint32())
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 1))
	u := newUnplanned(t, rng, true, 4096)
	w := u.w

	require.NoError(t, w.a.p.Demote(w.ctx, "vm1", w.a.rh))
	seedPt, _ := w.a.latestImages("vm1")
	assert.NotEqual(t, u.p3, seedPt.ID, "the seed is a point of its own")

	rb, err := w.b.rh.Reverse(w.ctx, "vm1", w.b.p, replica.ReverseConfig{Replica: w.a.addr()})
	require.NoError(t, err)
	writeBlocks(t, rng, rb.Volume(1), 50)
	res, err := rb.Cycle(w.ctx)
	require.NoError(t, err)
	// v0: 10 11 (rolled back) 20 (A) 21 (both) 30 (B); v1: 12 (rolled
	// back) 22 (A) 31 (B) 50 (B after Reverse).
	assert.Equal(t, int64(9), res.Blocks, "the union of both sides' change maps")
	assert.Equal(t, seedPt.ID, res.Base)
	pt, got := w.a.latestImages("vm1")
	assert.Equal(t, res.Point, pt.ID)
	assert.Equal(t, res.Hash, pt.Hash)
	assert.Equal(t, images(t, rb, plannedSize), got, "A ends identical to B")
	assert.Equal(t, replica.ResyncResult{}, rb.LastResync(), "no hash comparison")

	// Plain cycles from here on.
	writeBlocks(t, rng, rb.Volume(0), 63)
	res, err = rb.Cycle(w.ctx)
	require.NoError(t, err)
	assert.Equal(t, int64(1), res.Blocks)
	_, got = w.a.latestImages("vm1")
	assert.Equal(t, images(t, rb, plannedSize), got)
}

// The same with A's tracking lost: A's change map is unknown, so the
// reverse cycle compares hashes; A ends identical and only the differing
// blocks (plus the hash traffic) cross the wire.
func TestUnplannedReverseTrackingLostComparesHashes(t *testing.T) {
	seed := uint64(rand.Uint32())
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 1))
	u := newUnplanned(t, rng, false, 64<<10)
	w := u.w

	require.NoError(t, w.a.p.Demote(w.ctx, "vm1", w.a.rh))
	rb, err := w.b.rh.Reverse(w.ctx, "vm1", w.b.p, replica.ReverseConfig{Replica: w.a.addr()})
	require.NoError(t, err)
	writeBlocksOf(t, rng, rb.Volume(1), u.bs, 50)
	res, err := rb.Cycle(w.ctx)
	require.NoError(t, err)
	rr := rb.LastResync()
	assert.Equal(t, int64(9), rr.DifferingBlocks, "the blocks that differ, found by hash comparison")
	assert.Equal(t, int64(9), rr.Blocks)
	assert.Equal(t, int64(9), res.Blocks)
	assert.Positive(t, rr.HashBytes)
	t.Logf("hash traffic %d bytes, delta %d bytes", rr.HashBytes, rr.StreamBytes)
	assert.Less(t, rr.HashBytes*100, rr.StreamBytes, "hash traffic under 1% of the blocks sent")
	assert.Less(t, rr.StreamBytes, 9*u.bs*12/10, "at most the differing blocks (incompressible) and framing")
	_, got := w.a.latestImages("vm1")
	assert.Equal(t, images(t, rb, u.size), got, "A ends identical to B")
	assert.Equal(t, replica.Replicating, rb.State())
}

// No common point: A's last acknowledged point is not in B's lineage (A
// was reattached with another group's point). The reverse cycle fails
// with ErrNoCommonPoint, fatal, and changes nothing on either side.
func TestReverseWithoutCommonPoint(t *testing.T) {
	seed := uint64(rand.Uint32())
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 1))
	u := newUnplanned(t, rng, true, 4096)
	w := u.w
	// A forgets its relationship and comes back claiming a point B never had.
	cfg := u.cfg
	require.NoError(t, w.a.p.Remove(w.ctx, "vm1"))
	sf, err := delta.CreateStateFile(filepath.Join(t.TempDir(), "other.track"))
	require.NoError(t, err)
	cfg.TrackerState = sf
	relA, err := w.a.p.Reattach(w.ctx, cfg, delta.PointID{0xee})
	require.NoError(t, err)
	writeBlocks(t, rng, relA.Volume(0), 3)
	require.NoError(t, w.a.p.Demote(w.ctx, "vm1", w.a.rh))
	aBefore, aImg := w.a.latestImages("vm1")
	bBefore, bImg := w.b.latestImages("vm1")

	rb, err := w.b.rh.Reverse(w.ctx, "vm1", w.b.p, replica.ReverseConfig{Replica: w.a.addr()})
	require.NoError(t, err)
	_, err = rb.Cycle(w.ctx)
	require.ErrorIs(t, err, replica.ErrNoCommonPoint)
	h := rb.Health()
	assert.Equal(t, replica.Critical, h.Level)
	assert.True(t, strings.Contains(strings.Join(h.Reasons, "|"), "share no recovery point"), "%q", h.Reasons)

	aAfter, aImg2 := w.a.latestImages("vm1")
	bAfter, bImg2 := w.b.latestImages("vm1")
	assert.Equal(t, aBefore.ID, aAfter.ID)
	assert.Equal(t, aImg, aImg2, "nothing changed on A")
	assert.Equal(t, bBefore.ID, bAfter.ID)
	assert.Equal(t, bImg, bImg2, "nothing changed on B")
}

// The old primary's last cycle was committed on B but its acknowledgement
// was lost, and B failed over to that very point. The seed's change map
// names both A's last acknowledged point and the one in doubt, so B finds
// the common point and sends only the blocks changed on either side.
func TestReverseAfterLostAcknowledgement(t *testing.T) {
	seed := uint64(rand.Uint32())
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 1))
	w := newTwoHosts(t)
	rel, _ := w.enableOnA(rng)
	writeBlocks(t, rng, rel.Volume(0), 10)
	w.net.SetFaults("B", "A", memory.Faults{Hook: func(memory.FrameInfo) memory.Action { return memory.Cut }})
	_, err := rel.Cycle(w.ctx)
	require.ErrorIs(t, err, transport.ErrConnectionLost)
	w.net.SetFaults("B", "A", memory.Faults{})
	inDoubt, _ := w.b.latestImages("vm1")
	last, _, _ := rel.LastPoint()
	require.NotEqual(t, last, inDoubt.ID, "B committed the point A did not hear of")
	writeBlocks(t, rng, rel.Volume(1), 20) // never sent

	f, err := w.b.rh.Failover(w.ctx, "vm1", replica.SelectLatest)
	require.NoError(t, err)
	writeBlocks(t, rng, f.Volumes()[0], 30)
	require.NoError(t, w.b.rh.CompleteFailover(w.ctx, "vm1"))

	require.NoError(t, w.a.p.Demote(w.ctx, "vm1", w.a.rh))
	rb, err := w.b.rh.Reverse(w.ctx, "vm1", w.b.p, replica.ReverseConfig{Replica: w.a.addr()})
	require.NoError(t, err)
	writeBlocks(t, rng, rb.Volume(1), 40)
	res, err := rb.Cycle(w.ctx)
	require.NoError(t, err)
	// 10 (A's in-doubt cycle, restored as dirty), 20 (A), 30, 40 (B).
	assert.Equal(t, int64(4), res.Blocks)
	_, got := w.a.latestImages("vm1")
	assert.Equal(t, images(t, rb, plannedSize), got)
	assert.Equal(t, replica.ResyncResult{}, rb.LastResync())
}

// Unplanned failback: after a planned failover A→B, B (the new primary,
// writing through its clone) goes away and A fails over unplanned. When
// B comes back its Demote commits its clone — with its unsent writes —
// into its own store as a seed point, and A's reverse relationship sends
// only the blocks changed on either side since B's last point on A.
func TestUnplannedFailback(t *testing.T) {
	seed := uint64(rand.Uint32())
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 1))
	w := newTwoHosts(t)
	rel, _ := w.enableOnA(rng)
	_, err := rel.PlannedFailover(w.ctx)
	require.NoError(t, err)
	require.NoError(t, w.a.p.Demote(w.ctx, "vm1", w.a.rh))
	rb, err := w.b.rh.Reverse(w.ctx, "vm1", w.b.p, replica.ReverseConfig{Replica: w.a.addr()})
	require.NoError(t, err)
	writeBlocks(t, rng, rb.Volume(0), 11, 12)
	_, err = rb.Cycle(w.ctx)
	require.NoError(t, err)
	writeBlocks(t, rng, rb.Volume(1), 13) // never sent

	// B is unreachable; A fails over to B's last point, writes, completes.
	f, err := w.a.rh.Failover(w.ctx, "vm1", replica.SelectLatest)
	require.NoError(t, err)
	writeBlocks(t, rng, f.Volumes()[0], 12, 14)
	require.NoError(t, w.a.rh.CompleteFailover(w.ctx, "vm1"))

	// B comes back and demotes: its clone is committed, not copied.
	require.NoError(t, w.b.p.Demote(w.ctx, "vm1", w.b.rh))
	assert.Equal(t, replica.Replicating, w.b.state("vm1"))
	ra, err := w.a.rh.Reverse(w.ctx, "vm1", w.a.p, replica.ReverseConfig{Replica: w.b.addr()})
	require.NoError(t, err)
	res, err := ra.Cycle(w.ctx)
	require.NoError(t, err)
	// 12, 14 (A's failover), 13 (B's unsent write).
	assert.Equal(t, int64(3), res.Blocks)
	_, got := w.b.latestImages("vm1")
	assert.Equal(t, images(t, ra, plannedSize), got)
	assert.Equal(t, replica.ResyncResult{}, ra.LastResync())
}

// The new primary restarts: its reverse clone, with the writes Sync made
// durable, is reopened by the next Reverse, and a resynchronization sends
// the old primary only what it lacks.
func TestReverseReopensCloneAfterRestart(t *testing.T) {
	seed := uint64(rand.Uint32())
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 1))
	w := newTwoHosts(t)
	rel, _ := w.enableOnA(rng)
	_, err := rel.PlannedFailover(w.ctx)
	require.NoError(t, err)
	require.NoError(t, w.a.p.Demote(w.ctx, "vm1", w.a.rh))
	rb, err := w.b.rh.Reverse(w.ctx, "vm1", w.b.p, replica.ReverseConfig{Replica: w.a.addr()})
	require.NoError(t, err)
	writeBlocks(t, rng, rb.Volume(0), 5, 6)
	_, err = rb.Cycle(w.ctx)
	require.NoError(t, err)
	writeBlocks(t, rng, rb.Volume(1), 7) // not sent
	require.NoError(t, rb.Sync())
	want := images(t, rb, plannedSize)

	w.b.restartPrimary()
	assert.ErrorIs(t, rb.Sync(), replica.ErrClosed)
	assert.Equal(t, replica.FailedOver, w.b.state("vm1"))
	rb2, err := w.b.rh.Reverse(w.ctx, "vm1", w.b.p, replica.ReverseConfig{Replica: w.a.addr()})
	require.NoError(t, err)
	assert.Equal(t, want, images(t, rb2, plannedSize), "the synced writes survived")
	assert.Equal(t, replica.ResynchronizationRequired, rb2.State())
	rr, err := rb2.Resynchronize(w.ctx)
	require.NoError(t, err)
	assert.Equal(t, int64(1), rr.DifferingBlocks)
	_, got := w.a.latestImages("vm1")
	assert.Equal(t, want, got)

	// Failback still commits the reopened clone's writes.
	writeBlocks(t, rng, rb2.Volume(0), 8)
	res, err := rb2.PlannedFailover(w.ctx)
	require.NoError(t, err)
	final := images(t, rb2, plannedSize)
	require.NoError(t, w.b.p.Demote(w.ctx, "vm1", w.b.rh))
	pt, bgot := w.b.latestImages("vm1")
	assert.Equal(t, res.Point, pt.ID)
	assert.Equal(t, final, bgot)
}
