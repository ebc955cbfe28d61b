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
// # Sparse volumes
//
// To find the non-zero blocks, Network and Media read the volumes — but
// not their holes: a Volume that implements SparseVolume (NextData) is
// read only where it says data may lie, and an *os.File is asked with
// lseek SEEK_DATA/SEEK_HOLE on Linux. So the first copy of a mostly empty
// 64 GiB image reads its data, not 64 GiB. Where holes cannot be found
// (another platform, a file system without SEEK_DATA, NextData returning
// errors.ErrUnsupported) the volume is read whole, as any other Volume is.
// The data ranges of a volume whose ranges are known (a SparseVolume, or
// a file where SEEK_DATA works) are sent as they are, without a scan
// before: the encoder reads each block once and sends its zero blocks as
// zero records, which cost a few bytes. The full copy is a version 2
// delta stream: consecutive blocks are compressed together as data runs
// (delta.WithRunBytes).
//
// # Restarting the primary
//
// With GroupConfig.TrackerState, change tracking survives a restart: the
// host keeps the id from Relationship.LastPoint and, after the restart,
// calls PrimaryHost.Reattach with it; the next cycle sends what was
// written before. When the tracking state is lost, the relationship is
// ResynchronizationRequired.
//
// # Changes made behind the tracker's back
//
// A host tool whose volumes are files other programs write (the blockrep
// CLI, examples/blockrep) finds their changes by comparing page hashes
// with those of the last acknowledged cycle (delta.Scan) and hands the
// changed pages (ScanResult.ChangedPages) to Relationship.MarkChangedPages
// before the cycle, which then sends those pages — not their whole blocks —
// with whatever the tracker holds (Relationship.MarkChanged marks whole
// blocks). It keeps the new hashes only once the point is acknowledged, so
// a failed cycle loses nothing.
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
//  3. narrow the differing blocks to their differing 4 KiB pages: one
//     more query (ResyncPagesQuery, answered by ResyncPageHashes) asks for
//     the digests of every page of those blocks — 6-byte prefixes of a
//     BLAKE3 keyed with a key drawn afresh for each resynchronization —
//     which the primary compares with its own;
//  4. mark the differing pages and freeze: the frozen set is them plus
//     every page the tracker holds dirty (written since the last cycle,
//     during step 1 too), captured as of the freeze instant while the host
//     goes on writing;
//  5. send those pages as a delta on the replica's latest point; on the
//     acknowledgement the replica's content hash must equal the one of the
//     primary's image at the freeze (else ErrResyncMismatch).
//
// A failure at any step leaves the replica at its point and the blocks
// dirty, and the relationship ResynchronizationRequired, so the next
// attempt loses nothing. The replica builds its trees by reading the
// latest point's volumes once (the store does not hand out the block
// hashes it keeps), one volume at a time, so a resynchronization reads
// every volume once on each side, and the differing blocks once more for
// their page digests. ResyncResult and LastResync report the differing
// blocks and pages, the blocks, pages and bytes sent and the hash traffic.
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
// A failover or test failover survives a restart of the replica host:
// see Restarting the replica host.
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
// extended replica at L; the next one sends again (ExtendConfig.Timeout
// bounds one whose extended replica stops answering). A forward whose
// whole stream went out but whose verdict never came (or that was in
// flight when the host stopped) is in doubt: the extended replica may
// still commit its point, so the point stays pinned until the extended
// replica's status shows it at that point or past it, or it acknowledges
// a later one. After an unplanned
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
// another content hash than P's returns ErrForwardMismatch; the next
// forward then compares hash trees too instead of trusting the id.
//
// # Restarting the replica host
//
// A failover's or test failover's image is a checkpoint clone, and
// Failover.Sync (TestFailover.Sync) makes the writes made to it so far
// durable, as a disk flush does: after a crash the image has every write
// made before the last Sync; a block written after it reads as of that
// Sync or with some of the later writes. A new ReplicaHost on the same
// stores finds what the previous one left, for each group on the group's
// first access — a primary's request, Group, Failover, CompleteFailover,
// CancelFailover, StopTestFailover — or for all groups at once with
// Recover, which a host calls before ActiveFailover or ActiveTestFailover
// after a restart:
//
//	if err := rh.Recover(ctx); err != nil { ... } // a group it names stays unusable
//	f, err := rh.ActiveFailover("vm-42")            // FailedOverWaitingCompletion again
//	err = rh.CompleteFailover(ctx, "vm-42")         // or CancelFailover, as before the restart
//
// A group with a failover clone on disk is FailedOverWaitingCompletion
// again and refuses the old primary's deltas from its first access on; one
// with a test failover clone is TestFailoverRunning and applies them.
// What an interrupted start or end left — a clone without its pin or its
// state file — is discarded. CompleteFailover pins the latest point under
// "failover-commit:<new point>" before it applies the image: a restart that
// finds the clone beside a landed commit rolls the commit back to that
// point (the failover waits as before, clone intact) unless the group
// record already says FailedOver, in which case it finishes the
// completion. A crash at any write or sync of CompleteFailover thus leaves
// the failover waiting or completed, never in between. A group whose
// restore fails (a damaged clone) returns that error to every call rather
// than being replicated over.
//
// # Storage locations
//
// An authorization entry's Storage names where its groups live.
// ReplicaConfig.Store is the location "" and "."; ReplicaConfig.Stores
// maps other names to stores:
//
//	rh, err := replica.NewReplicaHost(replica.ReplicaConfig{
//		Store:  local, // Storage "" or "."
//		Stores: map[string]checkpoint.Store{"ssd": fast, "archive/s3": remote},
//		...
//	})
//
// CreateGroup creates a group in the store its entry names — the name
// comes from the Authorizer, never from the wire — and refuses an entry
// naming a location the host does not have (CodeInternal, logged, nothing
// created). Every later access finds the group in the store that holds it
// (the first lookup asks each store; the answer is remembered). A group id
// is unique across stores: CreateGroup of an id another store holds is
// refused with CodeGroupExists. Groups lists the groups of every store.
//
// # Changing a group after Enable
//
// Relationship.SetMetadata, SetFailoverSettings and SetRetention change
// the group on both sides. Each is validated as Enable validates, waits
// for a cycle in flight, and sends an UpdateGroup request at once: the
// replica rewrites the group's record (so the next Failover's Metadata and
// FailoverSettings return the new blobs) and applies the retention,
// pruning at once what it no longer keeps. When the replica cannot take it
// now (unreachable, failed over) the error wraps ErrUpdatePending: the
// change stays pending (UpdatePending) and goes before the next cycle's
// delta, so every point applied after it carries the new metadata in its
// group. The delta header's own metadata field is left empty: the store
// would make it the whole group record, losing the failover settings and
// the role the record keeps.
//
// # Planned failover and reverse replication
//
// A host tool runs a PrimaryHost for the groups it is primary of and a
// ReplicaHost for the groups it keeps replicas of; a host doing both names
// its PrimaryHost in ReplicaConfig.Primary. From enable to reverse, with
// hv1 the primary and hv2 its replica:
//
//	rel, _ := ph1.Enable(ctx, cfg)      // on hv1, Replica: "hv2:7300"
//	rel.InitialReplication(ctx)         // then Run cycles at the frequency
//	// the VM on hv1 is shut down:
//	res, err := rel.PlannedFailover(ctx, replica.WithReverseTo("hv1:7300"))
//	err = ph1.Demote(ctx, "vm-42", rh1) // hv1 becomes the replica
//	back, err := rh2.Reverse(ctx, "vm-42", ph2, replica.ReverseConfig{Replica: "hv1:7300"})
//	vm.Boot(back.Volume(0))             // on hv2: writes go through back
//
// Relationship.PlannedFailover refuses writes through Volume from its
// start (ErrPreparedForFailover: the gate makes sure the stopped VM is
// stopped), sends everything dirty in a final cycle, hashes the primary's
// image and compares it with the content hash the replica acknowledged
// (ErrFailoverMismatch, nothing promoted), then sends a Promote: the
// replica host checks that the final point is its latest and the group
// Replicating — a running test failover or unplanned failover is refused
// with CodeStateConflict, to be stopped or cancelled first — records the
// group FailedOver in the group's record (it stays so across restarts) and
// acknowledges; the relationship is PreparedForFailover. The replica host
// then calls ReplicaConfig.OnPromoted with the address WithReverseTo gave,
// so a host tool can call Reverse by itself. A failure before the
// promotion is acknowledged leaves the relationship Replicating with
// writes allowed and nothing lost; if only the acknowledgement was lost,
// PlannedFailover again (without writing meanwhile) completes.
//
// PrimaryHost.Demote copies the relationship's volumes into the host's own
// ReplicaHost store as the group — one read and one write of the volumes
// on this host, nothing on the network — and removes the relationship.
// After a planned failover the stored point is the final point itself
// (same id, instant, content hash). After an unplanned one it is a seed
// point, and the group's record keeps this side's change map: the last
// point the replica acknowledged and the blocks the tracker holds dirty
// since, or "unknown" when tracking was lost. When the relationship was
// itself made by Reverse on this host (a failback), Demote copies nothing:
// it commits the clone it wrote through into the store as a point.
//
// ReplicaHost.Reverse, on the side whose group is FailedOver (a completed
// unplanned failover, or promoted), creates a relationship on its
// PrimaryHost whose volumes are a copy-on-write clone of the group's
// latest point, replicating to the old primary's ReplicaHost. It does not
// contact the other side; its first cycle asks it (ReverseQuery) for its
// latest point and change map, and sends only the blocks changed on either
// side since their last common point:
//
//   - planned: the old primary's store is at this very point — plain
//     cycles from there, no resynchronization, no hash comparison;
//   - unplanned: the blocks the failover changed (its point's block set
//     against the old latest point, recorded when it completed), those
//     written here since, and those of the seed's change map, sent whole on
//     the seed; the result's content hash is checked against this side's
//     image at the freeze (a hash pass reads this side's volumes once);
//   - a side's map unknown, or a hash that differs: a resynchronization
//     by hash comparison (see Resynchronization) instead;
//   - the old primary's last point neither the failover's base nor this
//     point, or other volumes: ErrNoCommonPoint, and nothing changes on
//     either side. Reverse replication never copies everything.
//
// Failback is the same again in the other direction: back.PlannedFailover
// on hv2, ph2.Demote(ctx, "vm-42", rh2) (which commits hv2's clone into
// rh2's store instead of copying), rh1.Reverse toward hv2. A reverse
// relationship writes to its clone; Relationship.Sync makes the writes
// durable, and a Reverse after a restart reopens the clone with them (the
// relationship is then ResynchronizationRequired: a hash comparison finds
// what the other side lacks).
//
// # Split brain
//
// Both sides acting as the group's primary — the replica failed over and
// completed while the old primary went on writing — is detected when they
// meet again, from their points' lineage, and never resolved silently:
//
//   - the old primary's cycles fail with ErrReplicaFailedOver and, when
//     the replica's status shows it FailedOver and this side wrote since its
//     last acknowledged point, ErrSplitBrain; Health is Critical, "split
//     brain";
//   - the new primary's reverse relationship is refused by the old
//     primary's ReplicaHost, whose ReplicaConfig.Primary still has a
//     relationship of the group (CodeSplitBrain): its cycles fail with
//     ErrSplitBrain until resolved, Health Critical.
//
// The operator chooses the winner. The failed-over side wins: Demote the
// old primary; its writes since the last common point survive in the seed
// point only until the reverse relationship's first cycle replaces them
// with the new primary's content. The old primary wins:
// ReplicaHost.DiscardFailover on the failed-over side removes its reverse
// relationship, discards the clone it wrote through (and its writes), and
// returns the group to Replicating at its latest point; the old primary's
// next cycle finds it at a point it never sent, the relationship is
// ResynchronizationRequired, and Resynchronize makes the two identical.
//
// # Protocol
//
// One connection per relationship carries small versioned messages (see
// ProtocolVersion; a replica also accepts primaries down to
// MinProtocolVersion): Hello, Status, CreateGroup, DeltaStart followed by the
// delta stream, Ack and Nack, for resynchronization ResyncQuery and
// ResyncHashes then ResyncPagesQuery and ResyncPageHashes, UpdateGroup
// for changes after Enable, and Promote (answered by Promoted) and
// ReverseQuery (answered by ReverseInfo) for planned failover and reverse replication. Every message ends with a CRC-32C of its bytes, checked
// before it is read: a message damaged on the way is refused with
// ErrProtocol (the delta stream has its own checksums). Every request
// names its group and is
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
//     window, sending only the differing 4 KiB pages;
//   - changes made behind the tracker's back marked by page
//     (MarkChangedPages) or by block (MarkChanged);
//   - extended replication: a replica forwards its points to a further
//     replica at its own frequency, coalescing the points in between,
//     chains of any depth;
//   - failover and test failover state that survives a restart of the
//     replica host (Failover.Sync, Recover, ActiveFailover);
//   - changing the metadata, failover settings or retention of an
//     enabled group (SetMetadata, SetFailoverSettings, SetRetention);
//   - per-location stores on the replica (ReplicaConfig.Stores, chosen by
//     the authorization entry's Storage);
//   - planned failover (final cycle, content-hash confirmation, durable
//     promotion), Demote, and reverse replication after a planned or an
//     unplanned failover sending only what changed on either side, with
//     failback;
//   - split-brain detection on both sides, resolved by Demote or
//     DiscardFailover; a FailedOver group stays so across a restart of the
//     replica host;
//   - initial replication reading only the data of sparse volumes
//     (SparseVolume, SEEK_DATA on Linux files).
//
// Not built yet:
//
//   - persistence of the primary's relationship list (a host re-creates
//     its relationships with Reattach).
package replica
