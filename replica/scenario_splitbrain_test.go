package replica_test

import (
	"errors"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/blockrep/blockrep/checkpoint"
	"github.com/blockrep/blockrep/replica"
	"github.com/blockrep/blockrep/transport"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// splitBrain sets up both sides acting as primary: A replicates vm1 to B;
// B fails over, writes and completes while A goes on writing; B reverses
// toward A. It returns A's relationship, A's volumes and B's reverse
// relationship.
func splitBrain(t *testing.T, rng *rand.Rand) (*twoHosts, *replica.Relationship, []*memVolume, *replica.Relationship) {
	w := newTwoHosts(t)
	rel, vols := w.enableOnA(rng)
	fo, err := w.b.rh.Failover(w.ctx, "vm1", replica.SelectLatest)
	require.NoError(t, err)
	writeBlocks(t, rng, fo.Volumes()[0], 33)
	require.NoError(t, w.b.rh.CompleteFailover(w.ctx, "vm1"))
	writeBlocks(t, rng, rel.Volume(1), 44, 45) // A writes on

	// A's cycles are refused with ErrSplitBrain: it wrote past the last
	// common point. The first is refused on the connection kept from the
	// last cycle, the second reads the replica's status on a new one.
	for i := range 2 {
		_, cerr := rel.Cycle(w.ctx)
		require.ErrorIs(t, cerr, replica.ErrReplicaFailedOver, "cycle %d", i)
		assert.ErrorIs(t, cerr, replica.ErrSplitBrain, "cycle %d", i)
	}
	h := rel.Health()
	assert.Equal(t, replica.Critical, h.Level)
	assert.Contains(t, strings.Join(h.Reasons, "|"), "split brain")
	assert.Equal(t, replica.Replicating, rel.State())

	// B's reverse replication is refused by A's replica host: A never
	// demoted.
	rb, err := w.b.rh.Reverse(w.ctx, "vm1", w.b.p, replica.ReverseConfig{Replica: w.a.addr()})
	require.NoError(t, err)
	writeBlocks(t, rng, rb.Volume(0), 50)
	_, err = rb.Cycle(w.ctx)
	require.ErrorIs(t, err, replica.ErrSplitBrain)
	var remote *replica.RemoteError
	require.ErrorAs(t, err, &remote)
	assert.Equal(t, replica.CodeSplitBrain, remote.Code)
	h = rb.Health()
	assert.Equal(t, replica.Critical, h.Level)
	assert.Contains(t, strings.Join(h.Reasons, "|"), "split brain")
	_, err = w.a.rh.Group(w.ctx, "vm1")
	assert.ErrorIs(t, err, replica.ErrUnknownGroup, "nothing was written to A's store")
	return w, rel, vols, rb
}

// The failed-over side wins: A demotes (its unsent writes go to the seed
// point), and B's reverse relationship then makes A's store B's image,
// sending the blocks changed on either side.
func TestSplitBrainFailedOverSideWins(t *testing.T) {
	seed := uint64(rand.Uint32())
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 1))
	w, _, vols, rb := splitBrain(t, rng)
	unsent := [][]byte{vols[0].snapshot(), vols[1].snapshot()}

	require.NoError(t, w.a.p.Demote(w.ctx, "vm1", w.a.rh))
	_, seedImg := w.a.latestImages("vm1")
	assert.Equal(t, unsent, seedImg, "A's writes survive in the seed point until the reverse sync")

	res, err := rb.Cycle(w.ctx)
	require.NoError(t, err)
	// 33 (B's failover), 44 and 45 (A's unsent writes), 50 (B since).
	assert.Equal(t, int64(4), res.Blocks)
	_, got := w.a.latestImages("vm1")
	assert.Equal(t, images(t, rb, plannedSize), got)
	assert.Equal(t, replica.Normal, rb.Health().Level)
}

// The old primary wins: B discards its failover (and its reverse
// relationship with the writes made there); A's next cycle finds B at a
// point it never sent, and a resynchronization makes B identical to A.
func TestSplitBrainOldPrimaryWins(t *testing.T) {
	seed := uint64(rand.Uint32())
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 1))
	w, rel, vols, _ := splitBrain(t, rng)

	require.NoError(t, w.b.rh.DiscardFailover(w.ctx, "vm1", w.b.p))
	assert.Empty(t, w.b.p.Relationships(), "the reverse relationship is gone")
	assert.Equal(t, replica.Replicating, w.b.state("vm1"))
	g, err := w.b.store.Group(w.ctx, "vm1")
	require.NoError(t, err)
	clones, err := g.Clones(w.ctx)
	require.NoError(t, err)
	assert.Empty(t, clones)

	_, err = rel.Cycle(w.ctx)
	require.Error(t, err)
	assert.Equal(t, replica.ResynchronizationRequired, rel.State())
	rr, err := rel.Resynchronize(w.ctx)
	require.NoError(t, err)
	// 33 (B's failover write), 44 and 45 (A's writes).
	assert.Equal(t, int64(3), rr.DifferingBlocks)
	_, got := w.b.latestImages("vm1")
	assert.Equal(t, [][]byte{vols[0].snapshot(), vols[1].snapshot()}, got)
	writeBlocks(t, rng, rel.Volume(0), 9)
	res, err := rel.Cycle(w.ctx)
	require.NoError(t, err)
	assert.Equal(t, int64(1), res.Blocks)
}

// A FailedOver group stays FailedOver across a restart of its replica
// host, whether an unplanned failover completed or a planned one promoted
// it: the old primary's deltas are still refused and Reverse works.
func TestFailedOverSurvivesReplicaRestart(t *testing.T) {
	seed := uint64(rand.Uint32())
	t.Logf("seed %d", seed)
	for _, planned := range []bool{false, true} {
		t.Run(map[bool]string{false: "completed", true: "promoted"}[planned], func(t *testing.T) {
			rng := rand.New(rand.NewPCG(seed, 1))
			w := newTwoHosts(t)
			rel, vols := w.enableOnA(rng)
			if planned {
				_, err := rel.PlannedFailover(w.ctx)
				require.NoError(t, err)
			} else {
				_, err := w.b.rh.Failover(w.ctx, "vm1", replica.SelectLatest)
				require.NoError(t, err)
				require.NoError(t, w.b.rh.CompleteFailover(w.ctx, "vm1"))
			}
			before, img := w.b.latestImages("vm1")
			w.b.restartReplica()
			assert.Equal(t, replica.FailedOver, w.b.state("vm1"))
			if !planned {
				// The first cycle may find its kept connection gone with
				// the old host; the next one reads the new host's status.
				if _, err := rel.Cycle(w.ctx); !errors.Is(err, replica.ErrReplicaFailedOver) {
					assert.ErrorIs(t, err, transport.ErrConnectionLost)
					_, err = rel.Cycle(w.ctx)
					assert.ErrorIs(t, err, replica.ErrReplicaFailedOver)
				}
			}
			after, img2 := w.b.latestImages("vm1")
			assert.Equal(t, before.ID, after.ID)
			assert.Equal(t, img, img2)

			rb, err := w.b.rh.Reverse(w.ctx, "vm1", w.b.p, replica.ReverseConfig{Replica: w.a.addr(), Retention: checkpoint.Retention{}})
			require.NoError(t, err)
			assert.Equal(t, [][]byte{vols[0].snapshot(), vols[1].snapshot()}, images(t, rb, plannedSize))
		})
	}
}
