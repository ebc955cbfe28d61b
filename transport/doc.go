// Package transport moves bytes between the hosts of a replication
// relationship: it defines the connection interfaces the replica package
// uses, the identities peers present, the errors callers act on, and stream
// adapters for sending a delta stream over a connection.
//
// # Connections carry framed messages
//
// A [Transport] dials and listens; a [Conn] is an ordered, reliable
// sequence of messages (frames) in each direction, not a byte stream. The
// choice is deliberate:
//
//   - The frame limit is enforced before anything is allocated. A peer
//     announces a frame's length first, and a length over the limit closes
//     the connection with [ErrFrameTooLarge] without a byte of storage, so no
//     untrusted length sizes an allocation (a byte stream leaves that
//     discipline to every protocol decoder above it).
//   - Every Send and Recv takes a context: a stuck peer, a cancelled cycle
//     or a shutting-down host ends the call, whatever the implementation.
//   - Frames are the unit fault injection works on: the in-memory network
//     drops, duplicates, corrupts, delays or cuts per frame, which is how a
//     test aims at "the third chunk of the delta".
//   - The replica protocol already thinks in messages: requests,
//     acknowledgements, and a delta stream sent as a run of chunks. With
//     frames those need no second layer of length prefixes.
//
// Frames keep their boundaries, may be empty, and Recv reuses the caller's
// buffer when the frame fits, so a steady transfer allocates nothing.
//
// # Streams over a connection
//
// [NewWriter] cuts a byte stream (an encoded delta, a file) into frames of
// a chunk size and ends it with an empty frame; [NewReader] reads those
// frames back as an [io.Reader] and returns [io.EOF] at the empty frame.
// Because the end is marked, more messages can follow on the same Conn: a
// replica reads the delta stream, then the primary's commit request. Both
// reuse one buffer, so streaming any size takes constant memory.
//
// # Identities
//
// Every Conn reports the [Identity] of its peer: the name from its
// certificate (first DNS SAN, else Common Name) and the certificate's
// SHA-256 fingerprint for TLS, or the endpoint name on the in-memory
// network. Identity.Authenticated is false only over an explicitly insecure
// link, where the name is just what the peer claimed.
//
// # Errors
//
// Implementations wrap the sentinels of this package so that errors.Is
// works: [ErrUnreachable], [ErrConnectionLost] and [ErrTooManyConnections]
// are temporary (dial again; [IsTemporary] says so), [ErrUnauthenticated],
// [ErrUnauthorized] and [ErrFrameTooLarge] are not. Every Close is
// idempotent, and calls after it return [ErrClosed].
//
// # Implementations
//
// Package transport/tcp is TCP with mutual TLS 1.3, for production: both
// sides present certificates from a trusted CA, revoked certificates can be
// denied by fingerprint or serial, and listeners bound their connections and
// handshakes. Package transport/memory is an in-memory network for tests,
// with partitions and per-frame faults driven by a seed and a fake clock; it
// is not for production. Package transport/transporttest is the conformance
// suite both pass, and package transport/certs makes a CA and certificates
// for tests, examples and first setups.
//
// # Authorization
//
// An [Authorizer] on the replica decides which authenticated identities may
// replicate which groups, and into which storage location.
//
// # Bandwidth
//
// A [Limiter] caps the bytes per second a connection or a group of
// connections may send or receive.
//
// # Offline media
//
// Package transport/media writes an initial replica to a directory on
// removable storage and reads it back on the replica host, for links too
// slow for the first full copy.
package transport
