// Package replica orchestrates block-volume replication between hosts: a
// PrimaryHost tracks the writes to a group of volumes and ships them, cycle
// after cycle, to a ReplicaHost that keeps them as recovery points.
//
// It is the layer that knows roles. The packages below it do the work:
// delta tracks dirty blocks and encodes the changed blocks as a verified
// stream, checkpoint keeps recovery points on the replica, transport moves
// framed messages between authenticated hosts.
//
// # Setting up the two hosts
//
// The replica host listens on a transport, keeps its groups in a
// checkpoint.Store, and lets in only the primaries its
// transport.Authorizer names:
//
//	store, _ := checkpoint.Open(vfs.OS(), "/var/lib/blockrep")
//	auth, _ := transport.NewAuthorizer([]transport.AuthEntry{{Peer: "hv1.example", Group: "*", Storage: "."}})
//	l, _ := tlsTransport.Listen(ctx, ":7300")
//	rh, _ := replica.NewReplicaHost(replica.ReplicaConfig{Listener: l, Store: store, Authorizer: auth})
//	go rh.Serve(ctx)
//
// The primary host dials replicas with its transport:
//
//	ph, _ := replica.NewPrimaryHost(replica.PrimaryConfig{Transport: tlsTransport})
//	go ph.Run(ctx) // cycles at each relationship's frequency
//
// # Enable, then write through the relationship
//
// Enable describes the group — its volumes, metadata blob, failover
// settings, replica address, frequency, retention, app-consistency, block
// size — and asks the replica to create it. From then on the host writes
// through Relationship.Volume(i), which tracks every write and preserves
// the content a cycle in flight still has to read:
//
//	rel, err := ph.Enable(ctx, replica.GroupConfig{
//		ID:        "vm-42",
//		Volumes:   []replica.VolumeConfig{{Name: "system", Volume: disk, Size: size}},
//		Replica:   "replica.example:7300",
//		Frequency: replica.Frequency5m,
//		Retention: checkpoint.Retention{Additional: 24}, // hourly points for a day
//	})
//	disk := rel.Volume(0) // the VM writes here
//
// # Initial replication and cycles
//
// The relationship starts InitialReplicationPending. Run sends the first
// full copy (every non-zero block, as of one instant) as soon as it runs,
// or at GroupConfig.Initial.At; Relationship.InitialReplication sends it
// at once. Then Run runs a cycle every Frequency:
//
//  1. freeze every volume of the group at one instant (the quiesce hook
//     runs around it when an app-consistent point is due);
//  2. encode the frozen blocks — copy-before-write keeps their content as
//     of the freeze while the host goes on writing;
//  3. send the delta; the replica verifies it whole, applies it
//     crash-safely, commits the recovery point and acknowledges;
//  4. on the acknowledgement the frozen blocks are clean; on any failure
//     they are merged back, so the next cycle sends them.
//
// Relationship.Cycle runs one cycle now. A failed cycle is retried after
// 1, 2, 4 and 8 minutes, then every PrimaryConfig.RetryInterval;
// PrimaryConfig.CycleTimeout bounds a cycle whose replica stops answering.
// If the acknowledgement of a committed point is lost, the next cycle
// learns it from the replica's status and builds on that point.
//
// # Initial replication: network, offline media, seed
//
// GroupConfig.Initial.Mode says how the first copy reaches the replica.
// In every mode Enable creates the group on the replica over the
// transport, Run starts the initial replication at Initial.At (at once
// when zero) and retries it with back-off, Relationship.InitialReplication
// runs its next step now, and Initial.Progress hears the bytes done out of
// the total, ending with done == total.
//
// Network (the default) sends every non-zero block over the transport.
//
// Media exports the copy to offline media for a group too large for the
// link: the freeze, capture and encoding are those of Network, but the
// stream goes into Initial.MediaDir (a fresh directory on a removable
// disk) as transport/media parts and a manifest, under a fresh point id;
// nothing is sent. The frozen blocks are then clean, and the relationship
// stays InitialReplicationInProgress waiting for the import, with the
// exported point remembered (Relationship.ExportedPoint). Writes made
// meanwhile are tracked as usual — that is the queue: they travel as the
// first delta after the import, one delta, not a point per missed cycle.
// On the replica's site the operator runs ReplicaHost.Import on the
// directory. It verifies the whole stream (every part's checksum and the
// delta's own checks) before changing anything, so damaged media is
// refused with media.ErrIncomplete, media.ErrCorrupt or a
// *media.PartError and the store stays as it was; importing the same
// point again is Replayed. Import does not consult the Authorizer (the
// operator runs it locally). When the group is missing on the replica,
// Import creates it from the stream: the delta header's Meta carries the
// group record (metadata and failover settings) and the media labels the
// retention. Each attempt of the primary asks the replica's status: no
// point yet is ErrSeedMissing, counted and retried with back-off while
// Health is Warning ("waiting for offline import"); the exported point
// makes the relationship Replicating and its next cycle sends what was
// written meanwhile; another point makes it ResynchronizationRequired.
// The content hash of the imported point is learnt with the first
// cycle's acknowledgement. A primary that restarts while it waits keeps
// the exported point and its instant and calls PrimaryHost.ReattachExported;
// if its change tracking did not survive, the import leads to
// ResynchronizationRequired instead of Replicating.
//
// Seed starts from a copy the replica already has (restored from a
// backup, copied by hand): the operator hands it to ReplicaHost.Seed, one
// io.ReaderAt per volume of exactly the volume's size (else a
// *SeedVolumeError), into the group Enable created, which must hold no
// point yet. Seed applies it as the group's first point, crash-safely,
// under a fresh id, pinned with holder SeedPinHolder to mark it as no
// primary's point until a delta builds on it. The primary's initial
// replication is then a resynchronization against the seed point (see
// Resynchronization): it hashes every block, compares with the seed's
// hash tree, and sends only the blocks that differ — plus those written
// meanwhile — and the replica's content hash must come out equal to the
// primary's. Progress counts the bytes hashed, then the bytes sent;
// LastResync reports the differing blocks and the hash traffic. While
// the replica holds no seed the attempt fails with ErrSeedMissing (Health
// Warning, "waiting for the seed copy") and the relationship is
// InitialReplicationPending again, so Run retries it with back-off.
//
// # Restarting the primary
//
// With GroupConfig.TrackerState, change tracking survives a restart: the
// host keeps the id from Relationship.LastPoint and, after the restart,
// calls PrimaryHost.Reattach with it; the next cycle sends what was
// written before. When the tracking state is lost, the relationship is
// ResynchronizationRequired.
//
// # Resynchronization
//
// When which blocks changed is unknown — the tracking state was lost, the
// volumes were written behind the tracker's back, the replica was rolled
// back to a point this primary did not send — the relationship is
// ResynchronizationRequired and no cycle runs. Relationship.Resynchronize
// (also an operator's way to force one from Replicating or Suspended)
// makes the replica's next point the primary's image without a full copy:
//
//  1. read and hash every block of the group's volumes (delta.HashVolume),
//     while the tracker records the writes made meanwhile;
//  2. compare, volume by volume, with the hash tree of the replica's latest
//     point from the top down (delta.Differ over ResyncQuery and
//     ResyncHashes messages, a tree of fan-out 4): only the nodes above
//     differing blocks cross the wire, as 16-byte digests — about a
//     sixteenth of the bytes of every block hash when 1% of the blocks
//     differ, under 1% of the compressed size of those blocks;
//  3. mark the differing blocks and freeze: the frozen set is them plus
//     every block the tracker holds dirty (written since the last cycle,
//     during step 1 too), captured as of the freeze instant while the host
//     goes on writing;
//  4. send them, whole, as a delta on the replica's latest point; on the
//     acknowledgement the replica's content hash must equal the one of the
//     primary's image at the freeze (else ErrResyncMismatch).
//
// A failure at any step leaves the replica at its point and the blocks
// dirty, and the relationship ResynchronizationRequired, so the next
// attempt loses nothing. The replica builds its trees by reading the
// latest point's volumes once (the store does not hand out the block
// hashes it keeps), one volume at a time, so a resynchronization reads
// every volume once on each side. ResyncResult and LastResync report the
// differing blocks, the blocks and bytes sent and the hash traffic.
//
// With GroupConfig.ResyncWindow, Run starts a resynchronization by itself
// when one is required and the host clock is inside the daily window
// (retrying with back-off); without it only Resynchronize does.
//
// # States, health and statistics
//
// A relationship's State has the names Hyper-V Replica users know
// (InitialReplicationPending, Replicating, Suspended,
// ResynchronizationRequired, …); the legal moves are one table, and an
// operation the state does not allow returns a *StateError wrapping
// ErrInvalidState. Health is Warning when more than 20% of the cycles of
// the monitoring window were missed, replication is suspended, or a
// resynchronization is in progress, and Critical after an hour without a
// successful cycle, when resynchronization is required, while the group is
// failed over on the replica, or after an error that retrying will not
// cure (an unauthorized primary). Stats reports pending bytes, delta sizes,
// latencies, errors, successful and missed cycles; ResetStats starts a new
// monitoring window.
//
// # Time
//
// Everything that waits or stamps uses the Clock in the configuration.
// Tests pass replicatest.Clock and move time by hand: cycles, back-off and
// health are then exact and nothing sleeps.
//
// # Failover on the replica
//
// When the primary is lost, the replica host fails a group over to a
// recovery point chosen with a PointSelector: SelectLatest,
// SelectLatestAppConsistent or SelectPoint(id).
//
//	f, err := rh.Failover(ctx, "vm-42", replica.SelectLatestAppConsistent)
//	vm.Boot(f.Volumes(), f.Metadata(), f.FailoverSettings())
//	err = rh.CompleteFailover(ctx, "vm-42") // or rh.CancelFailover
//
// The group is then FailedOverWaitingCompletion: the old primary's deltas
// are refused with CodeStateConflict and change nothing, and a delta being
// applied is finished first. The primary's cycles fail with
// ErrReplicaFailedOver (and ErrInvalidState), whether the replica refused
// the delta or its status said so first; the relationship stays
// Replicating — not ResynchronizationRequired, even after a completed
// failover committed a point the primary never sent — Run retries with
// back-off, and Health says the replica failed over. After CancelFailover
// the next cycle goes through. The failover's volumes are a checkpoint clone of the point — a
// copy-on-write overlay — so writes to them leave the chain untouched.
// CancelFailover discards the overlay: the chain is exactly as before and
// the next delta applies. CompleteFailover commits the image as one
// crash-safe apply of the store — a delta from the latest point holding
// the blocks changed since the chosen point and the blocks written during
// the failover — then drops every other point; the group is FailedOver and
// its one point (whose Base is the old latest point and whose block set
// says which blocks differ from it) is what reverse replication will start
// from.
//
// A test failover (StartTestFailover, StopTestFailover) hands out the same
// kind of writable clone while replication goes on: the group is
// TestFailoverRunning, deltas keep being applied, the point is pinned so
// retention keeps it however many cycles pass, and no write to the clone
// reaches a point. One runs at a time per group (ErrTestFailoverRunning),
// and an unplanned failover is refused with a *StateError until it is
// stopped.
//
// A replica group's state is kept in memory by the host. Clones survive a
// restart on disk (with their pins) but cannot be reopened: the next
// failover or test failover of the group discards the one it finds.
//
// # Extended replication
//
// A replica host forwards a group's recovery points to a further replica
// (an extended replica) at a frequency of its own. To the extended
// replica the forwarding host is a primary like any other: the same
// Hello, CreateGroup and DeltaStart messages, the same authorization (its
// Authorizer names the forwarding host's identity). ReplicaConfig.Transport
// dials it:
//
//	err := rh.Extend(ctx, "vm-42", replica.ExtendConfig{
//		Replica:   "dr.example:7300",
//		Frequency: replica.Frequency15m,                // 5 minutes if 0
//		Retention: checkpoint.Retention{Additional: 4}, // the extended replica's own
//	})
//
// A forward takes the group's latest point P. When P is the point
// forwarded last, it sends nothing: forwarding more often than points
// arrive finds nothing new, so it is never faster than its upstream.
// Otherwise it pins P and sends, read from P's view, the blocks changed
// since the point L forwarded last (checkpoint ChangedBlocks): the points
// in between are coalesced into one delta, which carries P's own id,
// instant and consistency, so the extended replica's points are a
// subsequence of this replica's; its acknowledgement must carry P's
// content hash. The first forward creates the group there (same volumes,
// block size, metadata and failover settings, ExtendConfig.Retention) and
// sends every block. L stays pinned (holder "extend:" and the address)
// until P is acknowledged, so retention never prunes a point a downstream
// hop still needs. Pins are durable: after a restart the caller calls
// Extend again, and forwarding carries on from the pinned point. The
// extended replica may Extend in turn: chains of any depth.
//
// Forwards run while Serve runs — at once, then every Frequency, with a
// primary's back-off after failures; ForwardNow runs one now, StopExtend
// ends the extension and releases its pins, and Extensions reports each
// one's last point, counts, bytes and health. A cut forward leaves the
// extended replica at L; the next one sends again. After an unplanned
// failover on this replica, forwarding goes on: the point CompleteFailover
// commits is a new latest point, forwarded from L like any other (the pin
// keeps L when the failover drops the other points).
//
// When the extended replica is at a point this replica does not have (it
// was rolled back there, or its group was made by other means), the
// forward compares the hash trees of that point and of P, as a primary's
// resynchronization does, and sends only the blocks that differ, on top
// of it (ForwardResult.Resync). A group failed over on the extended
// replica refuses forwards (ErrReplicaFailedOver). An acknowledgement with
// another content hash than P's returns ErrForwardMismatch and stops the
// extension until StopExtend and Extend.
//
// # Protocol
//
// One connection per relationship carries small versioned messages (see
// ProtocolVersion): Hello, Status, CreateGroup, DeltaStart followed by the
// delta stream, Ack and Nack, and for resynchronization ResyncQuery and
// ResyncHashes. Every request names its group and is
// authorized again with the connection's authenticated peer; a refusal
// comes back as a *RemoteError whose Code maps to the matching sentinel
// (errors.Is(err, transport.ErrUnauthorized)).
//
// # Status
//
// Built, of the design's operations:
//
//   - enable a group (volumes, metadata, failover settings, frequency,
//     retention, app-consistent interval, compression, excluded volumes);
//   - initial replication over the transport, now or scheduled, with
//     progress;
//   - initial replication by offline media (export, ReplicaHost.Import,
//     writes made meanwhile sent after the import) and from a seed copy on
//     the replica (ReplicaHost.Seed, then only the differing blocks);
//   - cycles at the frequency, with app-consistent points, back-off of
//     failed cycles and missed-cycle counting;
//   - suspend, resume and remove;
//   - states, health and statistics (resettable);
//   - reattach after a restart of the primary with persistent tracking;
//   - the replica host, with per-request authorization and replay-safe
//     apply;
//   - unplanned failover on the replica (choose a point, then complete or
//     cancel), which the primary sees as ErrReplicaFailedOver;
//   - test failover while replication goes on;
//   - resynchronization by hash comparison, on request or in a daily
//     window;
//   - extended replication: a replica forwards its points to a further
//     replica at its own frequency, coalescing the points in between,
//     chains of any depth.
//
// Not built yet:
//
//   - planned failover;
//   - reverse replication (a FailedOver group does not become a primary);
//   - split-brain detection between two primaries;
//   - durable failover state: a replica group's failover or test failover
//     state lives in the replica host's memory and does not survive its
//     restart;
//   - changing the metadata or retention of an enabled group;
//   - persistence of the primary's relationship list (a host re-creates
//     its relationships with Reattach);
//   - per-location stores on the replica (every authorized group goes to
//     ReplicaConfig.Store, whatever the authorization entry's Storage
//     says).
package replica
