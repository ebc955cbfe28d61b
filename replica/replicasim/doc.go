// Package replicasim is a seeded, deterministic simulation of a blockrep
// deployment that searches for the paths scenario tests do not think of:
// it runs a primary, a replica and an extended replica host in one process,
// drives them with a random schedule of writes, cycles, network faults,
// crashes and failovers, and checks the design's invariants after every
// step.
//
// It is a test harness, not for production. Users of package replica can
// run it in their own tests, and drive a Cluster directly to test their own
// host logic against crashes and faults.
//
// # The cluster
//
// A Cluster holds a primary host replicating one group of in-memory volumes
// to a replica host, which forwards it to an extended replica host once
// extended (ReplicaHost.Extend), over a transport/memory network, with one
// replicatest.Clock for every host and store, and a vfs.MemFS under each
// replica's checkpoint store and under the primary's tracker state file
// (delta.CreateTrackerFile on a MemFS file). Any filesystem can crash at any
// of its operations, keeping only what was synced (or, torn, part of what
// was not); the host then restarts on what survived: a replica opens a new
// store (and picks up the failovers the store kept), the primary reattaches
// with its last acknowledged point.
//
// # Schedules
//
// Generate draws a schedule of Steps from a seed: host writes (random
// offsets and sizes, bursts, overwrites of one block, zeros), replication
// attempts (initial replication, cycle or resynchronization, as the state
// calls for; some with a writer running alongside), clock advances, network
// partitions, cuts after N bytes, duplicated, corrupted and delayed frames,
// crashes of any host, suspend and resume, test failovers, unplanned
// failovers to random points with cancel or complete (after which the
// primary protects its volumes anew as another group), resynchronizations,
// pruning, extended replication (extend, forward now, partitions and
// crashes of the extended replica), and planned failover rounds (planned
// failover under the faults in force, then demote, reverse replication and
// cycles back to the old primary). A replica crash point falls within an
// attempt, a prune, a test failover's start or stop, or a CompleteFailover. Each step carries its own argument, so it means the same when
// steps around it are dropped.
//
// # The checks
//
// A reference model keeps, for every freeze instant, the primary's image
// (each image after a prefix of the writes, when a writer ran during the
// attempt). After every step, Run checks:
//
//   - point-equals-image: every recovery point equals the primary's image as
//     of its freeze (failed-cycle-lost-nothing when the attempt before it had
//     failed, corrupt-frame-refused when frames were being corrupted);
//   - point-known, point-readable: every point is one the primary froze, and
//     reads;
//   - acked-point-committed: an acknowledged point is the replica's latest;
//   - store-opens-committed: after a crash the store opens at the point it had
//     before the attempt or at the attempt's point, never in between, and
//     says which (Group.Recovered);
//   - acked-point-durable: a point acknowledged before the crash is the
//     latest after it;
//   - testfailover-image, testfailover-changed-nothing: a test failover shows
//     its point, and its writes reach no point;
//   - failover-image, failover-changed-nothing, cancel-keeps-chain,
//     complete-failover-image: an unplanned failover shows its point, cancel
//     leaves the chain exactly as it was, complete commits the failover's
//     image as the one point;
//   - pinned-point-kept: no pinned point (a running test failover's, a
//     failover's, the last one forwarded downstream) is pruned;
//   - extended-subsequence, extended-equals-replica, forward-committed,
//     downstream-point-kept: the extended replica's points are points the
//     replica had, in order, equal in content; a forward reported done left
//     its point there; the replica keeps the point the extended replica is
//     at, for the next forward to build on (with Config.Strict);
//   - resync-identical: after a resynchronization both sides are identical;
//   - planned-failover, planned-failover-lossless, reverse-identical: a
//     planned failover loses nothing (its final point is the primary's image,
//     writes are refused after it, a failed one leaves writes allowed), and
//     after each reverse cycle the old primary's point is the new primary's
//     image;
//   - failover-recovered: after a restart the replica gives back the
//     failover or test failover that was running;
//   - host-write, primary-op, replica-op, primary-restart: no operation fails
//     for a reason the injected faults do not explain;
//   - liveness: no step runs longer than Config.StepTimeout;
//   - converge: at the end, with the network healed and failovers ended,
//     replication resumes within a few attempts, the replica's latest
//     point is the primary's image, and the extended replica catches up.
//
// Config.Strict also turns on the checks of bugs known and still open (see
// the package's skipped regression tests); without it the simulation works
// around them as an operator would, so that a long run finds new ones.
//
// # Running and reproducing
//
// go test ./replica/replicasim runs 200 seeds of 60 steps (fewer under the
// race detector). Flags of the test:
//
//	-seed N       run seed N only
//	-seeds N      run N seeds, from -from (default 1)
//	-steps N      steps per schedule
//	-soak 30m     run seeds from -from on until 30 minutes have passed,
//	              going on past failures until -maxfail (default 10)
//	-schedule S   run the schedule S (as a failure prints it) with -seed
//	-log          print the hosts' logs (with -schedule)
//	-shrink N     runs at most spent shrinking a failure
//
// A failure names its check, its step and its seed, and prints the shortest
// failing schedule Shrink found (delta debugging: halves, then smaller
// chunks, down to single steps, while the same check still fails):
//
//	go test ./replica/replicasim -run TestSimulation -seed 17 -steps 60
//
// runs it again. A run is deterministic in its schedule, its faults and its
// point ids; goroutine scheduling can still move a crash point of the
// replica's store by a few operations (its apply saves undo blocks on a
// goroutine of its own), so a crash-dependent failure may need a few runs.
package replicasim
