// Command blockrep is a host tool for blockrep replication: a replica host
// serves a recovery-point store to authorized primaries over mutual TLS,
// and a primary host replicates image files to it, cycle after cycle, with
// failover, test failover and status from the command line.
//
// Run "blockrep help" for the commands and "blockrep COMMAND --help" for
// the flags of one. Errors are one line on stderr and a non-zero exit
// status (2 for a usage error).
//
// # Replica host
//
// "blockrep serve --store DIR --listen ADDR" keeps the groups of every
// authorized primary in the store DIR. --allow IDENTITY[=GROUP-PATTERN]
// names the primaries (the name in their certificate) and the groups
// each may replicate; without --allow, any peer whose certificate the CA
// issued may. serve stops cleanly on SIGINT or SIGTERM; a SIGKILL at any
// moment loses no committed recovery point, because the store commits
// every point with fsync and an atomic rename and rolls an interrupted
// apply back the next time the group is opened.
//
// # One process per store
//
// serve holds an exclusive lock on DIR/blockrep.lock and answers the other
// store commands — points, export, status --store, failover — on the unix
// socket DIR/blockrep.sock (mode 0600). Every change to a store and every
// read of it while serve runs thus happens in one process: opening a group
// can roll back an apply that serve has in progress, so a second process
// must never open a served store. When no serve runs, those commands take
// the lock themselves and open the store directly; a failover needs a
// running serve, whose memory holds the failover until it is completed,
// cancelled or stopped.
//
// # Primary host
//
// "blockrep enable --state DIR ..." records a group of image files in the
// state directory DIR and, by default, sends the initial copy at once with
// a progress bar. Each later command is a short process: it locks DIR,
// reopens the relationship from DIR (its persistent change tracker and
// last acknowledged point), does its work and records the outcome.
//
// The image files may be written by any program: "sync" hashes every 4 KiB
// page (delta.Scan) and compares with the page hashes kept from the last
// acknowledged cycle, marks the pages that differ
// (replica.Relationship.MarkChangedPages), runs one cycle, and keeps the new
// hashes only once the replica acknowledged the point. The id of every
// point is recorded as pending before the replica hears of it, so a point
// whose acknowledgement is lost — the replica killed after its commit — is
// built on by the next sync instead of forcing a resynchronization.
// "run" does the same for every group at its frequency until interrupted.
// Statistics add up across processes in the state files; "status --state"
// reads them without contacting the replica.
//
// # Initial replication
//
// enable --initial network (the default) sends the first copy at once;
// later leaves it to the first sync or run; media:DIR writes it to offline
// media, carried to the replica host for "blockrep import --store DIR
// --from DIR", after which sync sends what changed since the export; seed
// waits for "blockrep seed --store DIR --group G --volume PATH..." on the
// replica, then sync sends only the blocks that differ from the seed.
//
// # Failover and reverse replication
//
// On the replica, "failover --store DIR --group G --point ID|latest|
// latest-app" fails over unplanned (--out writes the image's files);
// --complete or --cancel ends it. --test --out DIR starts a test failover
// whose files are written to DIR while replication goes on; --stop-test
// discards it.
//
// "failover --planned --state DIR --group G --reverse-to ADDR" runs on the
// primary: a final cycle (after a scan for what other programs wrote), the
// replica promoted, and the image files stored in DIR/store as the new
// primary's replica (replica.PrimaryHost.Demote); "blockrep serve --store
// DIR/store --listen ADDR" serves it. The promoted replica's serve
// replicates the group back to ADDR by itself, its primary being a clone
// of the group's latest point in the store, and records it in
// DIR/blockrep-reverse.json, so a restarted serve resumes it. "sync
// --store DIR --group G" runs one of its cycles now, and "failover
// --planned --store DIR --group G" hands it back. The tool writes nothing
// to that clone (use export for the image); a restarted serve reopens it
// and, since what reached the old primary is not known then,
// resynchronizes by hash comparison before its cycles go on.
//
// After an unplanned failover was completed, "reverse --state DIR --group
// G" on the old primary keeps its files as the replica (only the blocks
// that differ will cross), and "reverse --store DIR --group G --to ADDR"
// on the new primary starts replicating back.
//
// # Extended replication
//
// "extend --store DIR --group G --to ADDR --every 5m" makes the store's
// serve forward the group's points to a further replica, dialing it with
// serve's own certificate; DIR/blockrep-extend.json records it, so serve
// resumes it after a restart, and --stop ends it.
//
// # Security
//
// --cert, --key and --ca give the host's certificate and the CA that
// vouches for peers (mutual TLS 1.3, package transport/tcp). --insecure
// selects plain TCP for tests and trusted links and prints a warning.
// The primary records the TLS files at enable and reuses them when a
// later command gives none.
package main
