// Package media moves a replication stream on removable media: a Writer
// turns a stream into checksummed part files and a manifest in a directory
// (a disk to carry to the replica's site), and a Reader gives the stream
// back on the other side, refusing anything missing, damaged or forged.
// It is how blockrep does initial replication of a large group without
// sending it over the network, as Hyper-V Replica's "send initial copy
// using external media" does.
//
// # Layout
//
// A stream's directory holds part-000001.bin, part-000002.bin, … and
// manifest.json. Every part but the last has the configured size
// (WithPartSize, 1 GiB by default, below the 4 GiB file limit of FAT32);
// the last holds the rest. An empty stream has no parts. Other files in
// the directory are ignored, so a stream may share a disk's directory with
// a README; but a directory holds at most one stream.
//
// The manifest is one line of JSON: the format version, a stream id
// (random unless WithStreamID), the total size, the part size and count,
// each part's name, size and BLAKE3-256, and the caller's labels
// (WithLabels: the replica layer records the group, the recovery point and
// whatever else it needs to import the stream). It is wrapped with the
// BLAKE3 of its exact bytes, and a Reader accepts only the canonical
// encoding, so a change to any byte of the file is detected.
//
// # Durability
//
// Each part is fsynced and closed before the next one starts. Close
// writes the manifest to a temporary file, fsyncs it, renames it into
// place and fsyncs the directory; the manifest appears only when every
// part it names is durable. A writer that crashes or is aborted leaves no
// manifest, and Open reports ErrIncomplete. Abort (or a Close after a
// failed Write) removes the parts the writer created, so the directory
// can take a new stream; NewWriter refuses a directory that already holds
// one (ErrExists).
//
// # Verification while streaming
//
// A Reader does not read each part twice. It hands out a part's bytes as
// it reads them, hashing them on the way, and checks the part's size and
// checksum before it returns the part's last bytes: the Read that would
// complete a part returns nothing but a *PartError if the part is
// damaged. So a consumer never obtains a whole damaged part, and the
// whole stream ends with io.EOF only if every part checked out.
//
// The price is that bytes before the damage have already been handed out
// when the error comes. A consumer must therefore treat what it read as
// unverified until Read returns io.EOF, which the replica does anyway: it
// stages a delta stream and applies nothing before the stream's own checks
// pass. The alternative, checking a part fully before handing out any of
// it, would read every byte from the removable disk twice or hold a whole
// part (a gigabyte) in memory, to protect consumers that must stage their
// input regardless. Verify checks a stream completely without consuming
// it, for a caller that wants an answer before starting (at the cost of
// that second read).
//
// # Hostile input
//
// A disk that arrives by courier is untrusted input. Open checks the
// manifest's size before reading it (MaxManifestSize) and its part count
// against a bound (WithMaxParts); it accepts as part names only the exact
// names part-NNNNNN.bin in order, so no name from the manifest can become
// a path outside the directory, and all files are opened through an
// os.Root confined to it. Parts must be regular files, not links. Errors
// are typed: ErrIncomplete (no manifest, a missing part), ErrCorrupt (any
// other failed check), and a *PartError naming the part for per-part
// problems (missing, truncated, longer, altered, swapped with another,
// unlisted).
package media
