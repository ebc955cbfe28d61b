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
// The package Example shows the whole shape: two endpoints of an in-memory
// network, one listening and one dialing, exchange a request, a stream and
// an acknowledgement over one Conn, and the listener learns who dialed
// from Conn.Peer.
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
// # Optional capabilities
//
// Beyond the core interfaces, an implementation may offer small optional
// ones, found by type assertion so the core never grows: [NameDialer]
// (dial an address, require the peer to prove another name) and
// [TLSConn] (the negotiated TLS state, for logs and audits). [AsConn]
// finds a capability of a Conn through wrappers such as [LimitConn]
// ([Unwrapper]).
//
// # Authorization
//
// Authentication says who a peer is; authorization, what it may do. The
// replica side holds an [Authorizer]: a list of [AuthEntry] (peer identity
// pattern, group pattern, storage location, trust group), as Hyper-V
// Replica's authorization entries, with "allow any authenticated peer"
// as the explicit option [AllowAnyAuthenticated]. The transport does not
// call it, because only the protocol above knows which group a peer asks
// for. A server does, for every request:
//
//	entry, err := authz.Authorize(conn.Peer(), group)
//	if err != nil { // wraps ErrUnauthorized
//		_ = conn.Send(ctx, refusal) // one refusal, then nothing
//		return conn.Close()
//	}
//	// store the group under entry.Storage
//
// The identity comes from the connection (a certificate the transport
// verified), never from the request; an unauthenticated identity (an
// insecure link) is refused unless [AllowUnauthenticated] says otherwise.
// Entries are validated (patterns, a storage location that cannot leave
// the store root) and can be replaced while serving ([Authorizer.Set]).
//
// # Bandwidth
//
// A [Limiter] caps bytes per second with a token bucket. One Limiter per
// connection bounds that connection; one shared by every connection to a
// host bounds the host's total; [LimitConn] (sending) and [LimitRecv]
// (receiving) apply both to a Conn. [Limiter.SetLimit] and
// [Limiter.SetBurst] change the bounds while transfers run: waits in
// progress re-plan at once.
//
// # Offline media
//
// Package transport/media writes an initial replica to a directory on
// removable storage and reads it back on the replica host, for links too
// slow for the first full copy.
package transport
