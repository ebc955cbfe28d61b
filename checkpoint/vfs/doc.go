// Package vfs is the filesystem seam under blockrep's durable state (the
// checkpoint store, the tracker's state file, the replica simulation
// harness): an FS interface with the os package's meaning and errors, the
// real filesystem (OS), and MemFS, an in-memory filesystem for tests that
// fails or crashes at any chosen operation and keeps, across a crash, only
// what was made durable.
//
// Code that must survive a crash takes an FS instead of calling the os
// package, so that its tests can loop a crash point over every operation
// index and check what the code finds on reopening.
//
// # Durability contract
//
// FS promises what POSIX promises, no more: File.Sync makes a file's
// content durable, FS.SyncDir makes a directory's entries (creates,
// renames, removes) durable. Code that replaces a file atomically writes a
// temporary file, syncs it, renames it over the target and syncs the
// target's directory; code that appends to a log syncs the log before it
// relies on the appended bytes. OS().SyncDir fsyncs the directory; on
// Windows, where directories cannot be fsynced, it only checks that dir is
// one.
//
// # Crash model
//
// MemFS keeps two states. The volatile state is what operations see. The
// durable state is what MemFS.Crash keeps:
//
//   - a file's durable content is its content at its last Sync, or empty if
//     it was never synced; writes and truncates after that are lost;
//   - a directory's durable entries are its entries at its last SyncDir (or
//     Sync of a handle opened on it), or none if it was never synced; a
//     create, rename, remove or mkdir not followed by SyncDir of the parent
//     reverts. A file created and synced in a directory never synced
//     disappears; a file renamed over another comes back as the old file,
//     with that file's durable content; a removed file comes back;
//   - entries name files, not contents (a file is an inode), so the content
//     a durable entry shows is the file's durable content, whatever name it
//     has now. Syncing the directory after a rename but not the file before
//     it gives the new name with the file's last synced content, possibly
//     empty, as on ext4 or xfs.
//
// This is at least as pessimistic as ext4 and xfs with default options for
// the patterns temp-write → fsync → rename → fsync(dir) and append → fsync:
// everything those patterns rely on survives, nothing else does. A file
// fsync that on a journaling filesystem would also commit its new directory
// entry does not here. A rename between two directories is durable in each
// of them separately; if only one was synced the file may come back under
// both names (only the first in depth-first name order is kept) or none.
//
// MemFS.CrashRandom models a disk that also wrote back part of what was
// never synced: each changed directory comes back as of its last SyncDir
// or as it is now, each changed file with its old or new size and, page by
// page, old or new bytes. Recovery code that must tolerate torn tails and
// half-written files is tested against it with many seeds.
//
// After a crash the old MemFS and every file opened on it fail with
// ErrCrashed; Crash returns a new MemFS holding the surviving state.
//
// # Fault injection
//
// Every MemFS operation except Stat, Seek and Close is counted, in one
// sequence across kinds (see OpKind), and reported to the Hook set with
// MemFS.SetHook as an Op carrying its Index in that sequence. A hook that
// returns an error fails the operation with no effect; FailAt fails the
// n-th matching operation with ErrInjected, FailFrom that one and every
// later one.
//
// The hook runs with the MemFS locked, so it sees operations in the order
// they take effect, and must not call the MemFS itself.
//
// MemFS.CrashAt(n, kinds...) crashes the MemFS at the n-th matching
// operation counted from the call: that operation and all later ones fail
// with ErrCrashed (a write cut there may be torn: see CrashAt). The
// standard loop runs a workload once on a fresh MemFS
// to learn how many operations it makes (the difference of Ops before and
// after it), then for every n below that runs the workload again on a fresh
// MemFS with CrashAt(n), calls Crash, reopens the code under test on the
// result and checks its invariants, and repeats with CrashRandom and a few
// seeds to cover disks that wrote back part of the unsynced data.
//
// WithHook puts the same hook in front of any FS, the real one included,
// for tests that need a failed write or fsync on a real disk.
//
// MemFS.SetCapacity limits the total size of the files: a write or
// truncate past it fails with an error matching syscall.ENOSPC, changing
// nothing.
package vfs
