// Package checkpoint is the recovery-point store of a replica host: for each
// group it keeps the replica volumes, always at the latest recovery point,
// and the chain of older points, reachable through undo logs. It knows
// nothing of networks or roles; the replica package drives it through the
// Store and Group interfaces, and DirStore implements them in a directory.
//
// # Layout
//
// Open(fsys, root) keeps one directory per group under root/groups. A group
// directory holds the live volumes (vol-000.img, ...), one undo log per
// older point with its index (undo/), the block hash lists of the live volumes (a file
// rewritten now and then, and a journal each apply appends the changed
// blocks' hashes to), and a small manifest.json naming the points, their times, kinds, block sets and
// content hashes, the pins and every other file. The manifest is replaced
// atomically (temp file, fsync, rename, fsync of the directory) and is the
// only commit point. Group ids are 1 to 255 characters of [A-Za-z0-9._-]
// and never "." or "..", so no id from the wire names a path outside the
// store; volume ids are kept in the manifest only.
//
// # Applying a delta
//
// Group.Apply takes a delta stream (package delta) whose base is the latest
// point — the zero PointID for the first, full stream of a new group. It
// checks the stream's header against the group (ErrBaseMismatch,
// ErrVolumeMismatch) and verifies the whole stream while staging its
// decoded records (in memory up to WithStageMemory); meanwhile the current
// content of every block or page the stream overwrites goes to a new undo
// log. Once the stream checked out, the log is fsynced, and only then is
// the new data written, in batches (WithApplyBatch). After the
// volumes are synced the manifest commits the new point; the undo log then
// belongs to the previous point and turns the new latest image back into
// it. A stream whose new point is already in the chain is acknowledged
// without being applied twice (ApplyResult.Replayed).
//
// The first point of a group is applied differently: the volumes are zero
// and there is nothing to undo, so no undo log is written and nothing is
// staged; records are written batch by batch as they are decoded and
// verified, the next batch decoded while this one is written.
// A small marker file, durable before the first write and removed after
// the commit, says "first apply in progress": if the stream turns out bad
// or the apply fails or crashes, the volumes are truncated back to zero
// (sparse) and synced before the marker goes, so the group still has no
// point.
//
// # Crashes
//
// A crash at any write, sync or rename leaves the old point or the new one,
// never a mix. Before an apply touches a volume, its undo log — whose
// header names the apply's base and new point — is durable (for the first
// point, the first-apply marker); before a rollback does, an intent file
// is. On opening, Store.Group writes back the undo log of an apply that
// did not commit (a torn tail of the log is harmless: its blocks were
// never overwritten), zeroes the volumes of a first apply that did not
// commit (a volume it left short is resized, not damage), finishes a
// rollback,
// removes files no manifest names, and reports what it did in
// Group.Recovered. A directory damaged by hand — manifest missing, undo log
// truncated, volume of the wrong size — is reported as a *DamagedError,
// never repaired into wrong data. The tests prove this by crashing a
// vfs.MemFS at every operation of an apply, a prune and a rollback, and by
// failing each operation of an apply with an I/O error.
//
// # Reading a point
//
// Group.OpenPoint returns a View: one io.ReaderAt per volume as of the
// point, without copying anything. Reading the latest point reads the live
// volumes. Reading an older point overlays, page by page, the first undo
// log after the point that saved the page on the live volume. Views read
// correctly while deltas are applied and points pruned: the undo entries of
// an apply in progress are published before the blocks they save are
// overwritten. An open view holds its point against pruning.
//
// # Retention and pins
//
// Retention keeps the latest point only (the zero value), or the latest
// plus Additional older points, one per Spacing slot (an hour by default),
// as Hyper-V Replica keeps hourly points; KeepApp prefers app-consistent
// points within a slot. Pruning a point that is not the oldest merges its
// undo log into the previous point's, page by page keeping the older
// content, and folds its block set into the next point's, so every other
// point stays readable and ChangedBlocks stays exact. A pinned point (a
// clone's, or one a downstream hop has not received yet) is never pruned;
// pins are durable. A point that only one pin held goes in the same
// commit as that pin. DropBefore marks a point older than which retention
// keeps nothing (a completed failover abandons the older points): the
// pinned ones among them go as soon as their pins do.
//
// # Clones, export, rollback and verify
//
// Group.Clone makes a writable copy-on-write clone of a point for a test
// failover: a sparse overlay per volume, so a clone of a 100 GiB volume
// starts in milliseconds; Discard deletes it and releases its pin.
// Clone.Sync makes the writes made so far durable: it fsyncs the overlays,
// then atomically replaces the clone's state file (its point and the
// blocks written). After a restart or a crash, Group.OpenClone reopens the
// clone with every write the last Sync covered; a block written after it
// reads as of that Sync or with some of the later writes. What an
// interrupted Clone or Discard left is no clone (ErrUnknownClone) until
// DiscardClone removes it.
// Group.Export writes a point out as standalone images. Group.Rollback
// makes an older point the live state and discards the newer ones (an
// unplanned failover to an older point). Group.Verify rehashes a point's
// view and compares it with the content hash (delta.GroupRoot of BLAKE3
// block hashes) recorded when the point was applied.
package checkpoint
