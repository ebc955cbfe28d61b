// Package delta finds, captures and ships the blocks of a group of volumes
// that changed since the last replication cycle: dirty-block tracking,
// crash-consistent capture, block hashing and scanning, and the compressed,
// checksummed delta stream that carries one cycle from a primary to a
// replica.
//
// The package knows nothing of hosts, networks or recovery points beyond
// their ids: the checkpoint package applies streams to a replica's store,
// the transport package moves them, the replica package runs the cycles.
//
// # Geometry and block sets
//
// A volume of Size bytes is cut into blocks of BlockSize bytes (a power of
// two from 4 KiB to 4 MiB, DefaultBlockSize 64 KiB); the last block may be
// short. Blocks are tracked and sent whole or by their 4 KiB pages
// (PageSize), named by a PageMask. A Set is a bitmap of block indexes — 2 MiB
// for a 1 TiB volume at 64 KiB blocks — with ordered iteration (All, Runs)
// and a compact run-length encoding (AppendBinary, UnmarshalSet) for the wire
// and for disk.
//
// # Change tracking
//
// A Tracker records, for every volume of a group, which 4 KiB pages were
// written since the last cycle: one page bitmap per volume, set with atomic
// ORs and allocated in chunks as regions are touched, so Mark takes no lock
// and memory follows the regions written — at most one bit a 4 KiB page,
// 32 MiB for a wholly written 1 TiB volume, and as much again for an
// outstanding Frozen's generation. A block is dirty when any of its
// pages is, so a 4 KiB write costs about 4 KiB on the wire. Hosts write
// through a TrackedVolume (Tracker.Volume), or call BeginWrite and EndWrite
// around their own writes; Mark alone records without protecting captures.
//
// # Freezing and capture
//
// Tracker.Freeze ends the current generation for all volumes of the group at
// one instant (inside a WithQuiesce hook for app-consistent points) and
// returns a *Frozen, the Source an Encoder reads. While it is outstanding,
// the first write to one of its blocks first copies the old content aside
// (copy-before-write: in memory up to WithCaptureMemory, then in a spill
// file, never dropped), so Frozen.ReadBlock returns the image as of the
// freeze while the host goes on writing. Frozen.Commit drops the set once
// the replica acknowledged it; Frozen.Restore merges it back when the cycle
// failed, so nothing is lost. One Frozen is outstanding at a time.
//
// # Resilient tracking
//
// CreateTracker and OpenTracker keep the state in a file next to the volume.
// As in DRBD's activity log, the first write to an extent in an epoch makes
// the extent's number durable before Mark returns; each Commit and a clean
// Close write the whole dirty set. A Commit costs one sync and keeps the
// extents still being written hot in the new epoch, so a steady write load
// pays no log sync per cycle. After a crash OpenTracker marks dirty every
// block of the extents logged since, a superset of what was written.
// If the file is missing or damaged OpenTracker returns ErrTrackingLost:
// create a fresh tracker with CreateTracker, then resynchronize the volumes.
//
// # Hashing, hash trees and scanning
//
// Every block hash is the BLAKE3-256 of the block's bytes (HashBlock). A
// HashList holds the hash of each block of one volume: HashVolume builds it,
// reading the volume in 1 MiB chunks with two workers, and UpdateHashes
// rehashes the blocks an apply changed. Its Root is the root of a HashTree
// with DefaultFanout, bound to the volume's size and block size, and
// GroupRoot combines the roots of a group's volumes, in order, into the
// content hash of a recovery point. A HashTree node is the BLAKE3, in a
// key-derivation domain of its own, of its level, index and children, so two
// sides find the blocks that differ by comparing trees top down: a Differ
// names the nodes it wants (Level, Want), the peer answers with AppendNodes,
// Compare descends into the children of the nodes that differ, and
// Differing returns the blocks. With 1% of blocks differing at random, about
// a fifth of the block hashes cross the wire.
//
// Volumes written by programs that no Tracker watched are found by Scan: it
// reads the whole volume, hashes each 4 KiB page (a PageHash, BLAKE3
// truncated to 16 bytes: 4 MiB per GiB of volume) and compares with the
// PageHashes kept from the previous scan, as fast as reading and hashing the
// volume. A ScanResult names the changed blocks and, per block, the changed
// pages; NewScanSource turns a group's results into a Source for the
// Encoder. Keep ScanResult.Hashes as the next scan's prev only once the cycle
// committed. HashList and PageHashes persist with a CRC-32C and decode under
// a caller's size limit.
//
// # Delta streams
//
// A delta stream (format v2, specified byte by byte in FORMAT.md) carries one
// cycle's changes of a group: a header (group id, base and new recovery point,
// freeze time, consistency, block size, each volume's id and size, the opaque
// metadata), one record per changed block or run, and a trailer holding the
// record count and a BLAKE3 of the whole stream. A record is data (zstd or raw,
// a whole block or only its dirty 4 KiB pages, or a data run: consecutive
// whole blocks in one zstd frame), zero (blocks, a run or pages that are all
// zero) or copy (a block equal to one sent earlier in the same stream); each
// has its own checksum, and records come in increasing (volume, block) order,
// each block at most once. A Decoder hands out the blocks of a data run one
// record at a time, so its records are about one block each (zero runs
// aside) whatever the stream's version.
//
// An Encoder reads the blocks a Source names (a Frozen capture, or NewSource
// over volumes that do not change), zero-checks, hashes and compresses them in
// parallel and writes them in order; WithEncoderMemory bounds its buffers
// whatever the volume size, and WithProgress reports the bytes done.
// WithRunBytes compresses consecutive dirty blocks together as data runs
// (a version 2 stream), which a full copy gains most from; without it the
// stream is version 1.
//
// # Hostile input
//
// Reading is defensive: every length is checked against its limit before
// anything is allocated, every record against its checksum, every zstd frame
// against the exact size its record must have. A Decoder hands out records one
// at a time with their block addresses (Record.Ranges gives the byte ranges),
// for appliers that keep undo data; io.EOF comes only after the trailer
// checked out, so such an applier verifies first or can roll back. Verify
// checks a whole stream without writing; Apply verifies it completely, staging
// the checked records, before it writes a byte to the targets. Bad input gives
// a *CorruptError (ErrCorrupt); another group, base point or volume layout
// gives ErrMismatch (WithExpect, WithTargetGeometries); a stream past the
// reader's own limits gives ErrLimit. In every case the targets are untouched.
//
// # Memory
//
// Encoders, decoders and block buffers are pooled (sync.Pool, no goroutines,
// no I/O) because touching fresh memory costs more than compressing it; the
// encoder's in-flight buffers stay under WithEncoderMemory (default 64 MiB)
// whatever the volume size.
package delta
