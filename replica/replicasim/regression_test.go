package replicasim_test

import (
	"context"
	"testing"
	"time"

	"github.com/blockrep/blockrep/replica"
	"github.com/blockrep/blockrep/replica/replicasim"
	"github.com/blockrep/blockrep/replica/replicatest"
	"github.com/blockrep/blockrep/transport/memory"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Found by the simulation (seed 2: delay, duplicate, then a cycle hung),
// fixed since in transport/memory: a duplicated frame had the ready channel
// of the original (half.go, Send), and a clock's After channel delivers one
// value, so once the receiver took the original the duplicate never became
// readable and Recv waited until its context ended. (The harness's delay
// clock closes its channels, which hid it.)
func TestMemoryDuplicateDelayedFrame(t *testing.T) {
	ctx := context.Background()
	clk := replicatest.NewClock(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	net, err := memory.NewNetwork(1, memory.WithClock(clk))
	require.NoError(t, err)
	l, err := net.Endpoint("b").Listen(ctx, "b")
	require.NoError(t, err)
	defer l.Close()
	net.SetFaults("a", "b", memory.Faults{Duplicate: 1, Delay: time.Second})
	c, err := net.Endpoint("a").Dial(ctx, "b")
	require.NoError(t, err)
	defer c.Close()
	s, err := l.Accept(ctx)
	require.NoError(t, err)
	defer s.Close()
	require.NoError(t, c.Send(ctx, []byte("frame")))
	clk.Advance(time.Second)
	got, err := s.Recv(ctx, nil)
	require.NoError(t, err)
	assert.Equal(t, []byte("frame"), got)
	require.True(t, s.(*memory.Conn).Readable(), "the duplicate is due as well")
	got, err = s.Recv(ctx, nil)
	require.NoError(t, err)
	assert.Equal(t, []byte("frame"), got)
}

// Found by the simulation (seed 2, shrunk to: duplicate, cycle, cycle, then
// the final convergence); the schedule passes since the replica's changes of
// 25 Nov (checksummed control messages, lost refusals read from the status):
// a duplicated Ack of the initial replication is
// read as the verdict of the next cycle (ErrProtocol, its point in doubt);
// the replica's old session is still applying that point when the redialed
// session's Status answers, so the following cycle builds on the old base
// and is refused (base mismatch) — and sendDelta has meanwhile replaced
// Relationship.inDoubt with its own new id (replica/delta_send.go:56), so
// the point the replica did commit is forgotten, and the next Status makes
// the relationship ResynchronizationRequired (replica/cycle.go:381) for a
// lost acknowledgement, which inDoubt exists to absorb. It is a race; the
// schedule fails one run in ten or so.
func TestLostAckForcesResync(t *testing.T) {
	steps, err := replicasim.ParseSteps("duplicate:1d148d189e97ebd7,cycle:9f53881ad508530c,cycle:b3d6ff8f1f023e84")
	require.NoError(t, err)
	for i := range 40 {
		f, err := replicasim.Run(context.Background(), replicasim.Config{Seed: 2, Strict: true}, steps)
		require.NoError(t, err)
		require.Nil(t, f, "run %d", i)
	}
}

// Found by the simulation (seed 29 with corrupted answers), fixed since
// (control messages carry a checksum now): control messages carried no
// checksum, and a bit flipped in a Status answering the
// Hello of an initial replication makes its Latest a point this primary
// never sent. InitialReplication then fails with errUnknownReplicaPoint and
// Relationship.cycle moves the relationship to ResynchronizationRequired
// (replica/cycle.go:177), although it never replicated: Resynchronize
// refuses with ErrNoReplicaPoint and InitialReplication by state, so the
// relationship stays wedged until it is removed and enabled anew.
func TestCorruptStatusWedgesInitial(t *testing.T) {
	steps, err := replicasim.ParseSteps("cycle:dd715dee39392af9,duplicate:360a36e473bdad75,failover:9b1f37eb51ed07f,corrupt:1f70c3d8f1a4707," +
		"complete-failover:addaf6d87b39e8bc,cycle:df6ca3d221bb582c,cycle:c60c46acaa615c3b,corrupt:34d1a854be43b697,cycle:32916a2790db4703")
	require.NoError(t, err)
	f, err := replicasim.Run(context.Background(), replicasim.Config{Seed: 29, Strict: true}, steps)
	require.NoError(t, err)
	require.Nil(t, f)
}

// Found by the simulation (seed 29, with corrupted control messages),
// fixed since (control messages carry a checksum now): a bit flipped in
// CreateGroup (the volume name "disk0" arrived as "dIsk0") was accepted; the
// replica created the group with the damaged name, Enable succeeded, and
// every initial replication was then refused with CodeVolumeMismatch — the
// group was wedged until removed on both sides. The test corrupts the
// CreateGroup frame of Enable for several network seeds: Enable must refuse
// it (ErrProtocol), and succeed afterwards over a clean network together
// with the initial replication.
func TestCorruptCreateGroupWedges(t *testing.T) {
	ctx := context.Background()
	for seed := uint64(1); seed <= 20; seed++ {
		c, err := replicasim.NewCluster(ctx, replicasim.Config{Seed: seed})
		require.NoError(t, err)
		c.Network().SetFaults(replicasim.PrimaryName, replicasim.ReplicaName, memory.Faults{Hook: func(fi memory.FrameInfo) memory.Action {
			if fi.Index == 1 { // Hello is frame 0, CreateGroup frame 1
				return memory.Corrupt
			}
			return memory.Deliver
		}})
		err = c.Enable(ctx)
		assert.ErrorIs(t, err, replica.ErrProtocol, "seed %d", seed)
		c.Network().SetFaults(replicasim.PrimaryName, replicasim.ReplicaName, memory.Faults{})
		if err != nil {
			require.NoError(t, c.Enable(ctx), "seed %d", seed)
		}
		_, err = c.Relationship().InitialReplication(ctx)
		assert.NoError(t, err, "seed %d", seed)
		require.NoError(t, c.Close())
	}
}

// Found by the simulation (seed 29): Suspend is allowed before the initial
// replication, and Resynchronize is allowed from Suspended; from a
// relationship suspended in InitialReplicationPending it moves to
// ResynchronizationRequired (replica/resync.go:78), fails with
// ErrNoReplicaPoint, and stays ResynchronizationRequired
// (replica/resync.go:106): InitialReplication is refused by state and
// Resynchronize finds no point, so the relationship is wedged.
func TestResyncBeforeInitialWedges(t *testing.T) {
	steps, err := replicasim.ParseSteps("cycle:dd715dee39392af9,failover:9b1f37eb51ed07f,corrupt:1f70c3d8f1a4707," +
		"complete-failover:addaf6d87b39e8bc,suspend:981a83874dd03bb0,resync:2e30ff8d3ff1ac8")
	require.NoError(t, err)
	f, err := replicasim.Run(context.Background(), replicasim.Config{Seed: 29, Strict: true}, steps)
	require.NoError(t, err)
	require.Nil(t, f)
}

// Found by the simulation (seed 104), fixed since by the durable failover
// state (replica/restore.go): a test failover runs when the replica
// host restarts; its clone and pin stay on disk (the host forgot it). An
// unplanned failover is then started and completed: CompleteFailover
// promises to drop every other point, but the stale test failover pin
// keeps its point, so the FailedOver group has two points — and retention
// can never prune that point until another test failover of the group
// happens to discard the clone (replica/failover.go: only the clone of the
// failover's own kind is discarded when found).
func TestStalePinSurvivesCompleteFailover(t *testing.T) {
	steps, err := replicasim.ParseSteps("crash-replica:61fbb5ca1ac90ef1,test-failover:2adcde2430284478,crash-replica:3e6aaf597bbc8b56," +
		"failover:5207b5518acfdea0,complete-failover:c62ffb22b3c6e98")
	require.NoError(t, err)
	f, err := replicasim.Run(context.Background(), replicasim.Config{Seed: 104, Strict: true}, steps)
	require.NoError(t, err)
	require.Nil(t, f)
}

// Found by the simulation (seed 45), fixed since (replica 5447b33): the
// first forward to an extended replica fails while it sends (the extended replica crashed; here the
// connection is cut). The forward had pinned the point before sending
// (replica/forward.go, pinLatest) and keeps the pin on failure, and the
// next forward takes "one pin, on the latest point" for "forwarded already"
// (forward.go, the shortcut after e.pinned): it reports the point as
// forwarded, sends nothing, and the extended replica never gets it.
func TestFailedForwardCountsAsForwarded(t *testing.T) {
	ctx := context.Background()
	c, err := replicasim.NewCluster(ctx, replicasim.Config{Seed: 1})
	require.NoError(t, err)
	defer func() { require.NoError(t, c.Close()) }()
	require.NoError(t, c.Enable(ctx))
	_, err = c.Volume(0).WriteAt([]byte("some data"), 0)
	require.NoError(t, err)
	_, err = c.Relationship().InitialReplication(ctx)
	require.NoError(t, err)
	c.Network().SetFaults(replicasim.ReplicaName, replicasim.ExtendedName, memory.Faults{CutAfter: 100})
	require.NoError(t, c.ReplicaHost().Extend(ctx, c.GroupID(), replica.ExtendConfig{Replica: replicasim.ExtendedAddress}))
	_, err = c.ReplicaHost().ForwardNow(ctx, c.GroupID())
	require.Error(t, err, "the connection is cut while the delta is sent")
	c.Network().SetFaults(replicasim.ReplicaName, replicasim.ExtendedName, memory.Faults{})
	res, err := c.ReplicaHost().ForwardNow(ctx, c.GroupID())
	require.NoError(t, err)
	g, err := c.ExtendedStore().Group(ctx, c.GroupID())
	require.NoError(t, err)
	latest, err := g.Latest(ctx)
	require.NoError(t, err, "the forward of %s was reported done", res.Point)
	assert.Equal(t, res.Point, latest.ID)
}

// Found by the simulation (seed 21348; 8 runs in 30): a delta the replica is
// still applying when StartTestFailover(SelectLatest) runs (its primary gave
// up on it after a duplicated Ack) commits a new point and prunes the one
// the test failover selected before it is cloned: StartTestFailover fails
// with checkpoint.ErrUnknownPoint instead of showing a point of the chain
// (selection and pin are not atomic against a concurrent apply;
// replica/testfailover.go).
func TestTestFailoverLatestPruned(t *testing.T) {
	steps, err := replicasim.ParseSteps("cycle:91286970bca8cf81,extend:1f98c59aaf77f993,duplicate:28be8a16b7b838db,burst:b56072ff7482c2f3," +
		"resync:2a78fd9fd8e38675,cycle:5a2b99376a8d6714,test-failover:e443fa973a898bba")
	require.NoError(t, err)
	for i := range 60 {
		f, err := replicasim.Run(context.Background(), replicasim.Config{Seed: 21348, Strict: true}, steps)
		require.NoError(t, err)
		require.Nil(t, f, "run %d", i)
	}
}

// Found by the simulation (seed 1002399; about one run in ten): a forward
// is in flight when the replica host crashes; the extended replica commits
// its point P after the replica restarted. The restarted extension starts
// from its pin of P, but its first forward dials before P is committed
// there, finds the extended replica at no point, pins the new latest and
// unpins P (replica/forward.go, unpinOthers), which retention prunes; the
// extended replica is then at P, which the replica no longer has (the
// full copy it sent on base zero is refused as a base mismatch). The next
// forward recovers by hash comparison (ForwardResult.Resync), so nothing is
// lost, but the point a downstream hop needed was pruned (invariant 7): the
// forwarder should keep the pin of a point whose forward is in doubt, as
// the primary keeps Relationship.inDoubt.
func TestInDoubtForwardUnpinned(t *testing.T) {
	steps, err := replicasim.ParseSteps("cycle:6177707a330200a,cycle:31b77ab3ca120f67,extend:a8fca7406beeb5df,cycle:21a3a84962b3473," +
		"delay:2bf227d077289758,delay:4b4f2812a90086a8,suspend:e1130c9f79c5773b,crash-replica:cf31ea50f93f4f0c,resync:ff762fd3fac453b7")
	require.NoError(t, err)
	for i := range 100 {
		f, err := replicasim.Run(context.Background(), replicasim.Config{Seed: 1002399, Strict: true}, steps)
		require.NoError(t, err)
		require.Nil(t, f, "run %d", i)
	}
}
