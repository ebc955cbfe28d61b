package replica_test

import (
	"math/rand/v2"
	"testing"

	"github.com/blockrep/blockrep/replica"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The new primary may reverse before the old one has demoted: its first
// cycle then finds no replica of the group there (or the relationship
// still prepared), which is a wait, not a lasting failure — the error is
// ErrAwaitingDemote, retrying is worth it, and once A demotes the same
// relationship's next cycle sends only what B wrote meanwhile.
func TestReverseBeforeTheOldPrimaryDemotes(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 5))
	w := newTwoHosts(t)
	rel, _ := w.enableOnA(rng)
	writeBlocks(t, rng, rel.Volume(0), 2, 3)
	_, err := rel.PlannedFailover(w.ctx, replica.WithReverseTo(w.a.addr()))
	require.NoError(t, err)
	<-w.b.promoted

	back, err := w.b.rh.Reverse(w.ctx, "vm1", w.b.p, replica.ReverseConfig{Replica: w.a.addr()})
	require.NoError(t, err)
	writeBlocks(t, rng, back.Volume(1), 4)

	// A is prepared, not demoted: its replica host says so.
	_, err = back.Cycle(w.ctx)
	assert.ErrorIs(t, err, replica.ErrAwaitingDemote)
	assert.False(t, replica.IsFatalForTest(err), "a wait, not a lasting failure")
	for _, r := range back.Health().Reasons {
		assert.NotContains(t, r, "retrying will not help")
	}

	// A demotes; the next cycle goes through with block 4 alone.
	require.NoError(t, w.a.p.Demote(w.ctx, "vm1", w.a.rh))
	res, err := back.Cycle(w.ctx)
	require.NoError(t, err)
	assert.Equal(t, int64(1), res.Blocks)
	_, got := w.a.latestImages("vm1")
	assert.Equal(t, images(t, back, plannedSize), got)
}
