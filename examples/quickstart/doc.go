// Quickstart runs blockrep's whole story on one machine, in one process, and
// checks every step: the README's main command.
//
//	go run ./examples/quickstart
//
// No flags and no set-up are needed; it works in a temporary directory that
// it removes at the end (-keep keeps it). With the default 256 MiB + 64 MiB
// group it takes under a minute on two cores (46 s measured while other
// builds kept them busy), about 18 s of which are the paced cycles; -size
// 8MiB makes it quick.
//
// # What it does
//
// Three hosts, each a replica host with a checkpoint store on disk, talk
// mutual TLS on loopback (package transport/tcp) with certificates from a CA
// made at start (package transport/certs): hv1 is the primary, hv2 its
// replica, hv3 the extended replica hv2 forwards to; hv1 and hv2 run primary
// hosts too, for when the direction reverses. The group has two volume files,
// part zeros, part text-like, part random, drawn from a seed (-seed gives one
// back). The story:
//
//   - enable and initial replication hv1 → hv2 with a progress bar, then
//     extended replication hv2 → hv3 and its initial copy;
//   - cycles once a second (-every) while a writer goroutine writes random
//     blocks through the relationship's tracked volumes. The program calls
//     Relationship.Cycle itself: PrimaryHost.Run would run cycles at the
//     group's frequency, and the shortest the library accepts
//     (replica.MinFrequency, 30 s) is too slow for a demo. Every third cycle
//     hv2 forwards its latest point to hv3 (ReplicaHost.ForwardNow), which
//     coalesces the points in between;
//   - the recovery points of hv2 and hv3, listed;
//   - a test failover on hv2's oldest point while replication goes on;
//   - a planned failover hv1 → hv2 (no write lost), hv1 demoted into its own
//     replica host's store, and the direction reversed: hv2 → hv1, whose
//     first cycle sends nothing;
//   - an unplanned failover on hv1 to an older point, cancelled (hv2's cycle
//     is refused meanwhile, and goes through after), then — hv2 lost — again,
//     completed; hv2 comes back, demotes itself, and hv1 reverses toward it:
//     the first cycle sends only the blocks that differ since the last common
//     point;
//   - hv2, a replica again, forwards to hv3 once more: the extended hop
//     carries on across the failovers;
//   - statistics and health.
//
// Flags: -size (the first volume; the second is a quarter of it), -cycles,
// -every, -writes (the writer's blocks a second), -seed, -keep, -tmp.
//
// # Verification
//
// The program keeps its own account of the primary's image, apart from
// the library: the BLAKE3 hash of every block as made, then of every block
// the writer writes, in order. A recovery point must be the primary's image
// at its freeze, which falls somewhere in the writer's sequence, so each
// point's content hash (delta.GroupRoot of the block hashes, as the store
// records it) must equal the account's after some prefix of the writes made
// since the previous point; the program finds that prefix and keeps the
// image. Later steps check against those images: the data read back from the
// stores, a test failover's clone, a failover's volumes. Where the writer is
// stopped, the account is checked against the primary's real volumes too.
//
// Any difference is printed with a ✗ and the program exits with status 1.
package main
