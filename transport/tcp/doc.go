// Package tcp implements transport.Transport over TCP with mutual TLS 1.3,
// the transport for production: each host presents a certificate issued by
// a CA its peers trust, and learns the peer's identity from the peer's
// certificate, as Hyper-V Replica's certificate-based authentication does.
//
// # Configuration
//
// [Config] holds the host's certificates, the CAs trusted for peers, and
// bounds: frame limit, handshake and idle timeouts, TCP keep-alive, the
// number of connections and of handshakes a listener runs at once. Zero
// values mean the documented defaults; [Config.Validate] reports what is
// missing. Dial checks the server's certificate against the host it dials
// (or Config.ServerName, or the name given to DialName); a listener requires
// and verifies a client certificate.
//
// # Identities and revocation
//
// A peer's identity is the first DNS SAN of its verified leaf certificate,
// else its Common Name, with the certificate's hex SHA-256 [Fingerprint].
// Config.DenyFingerprints and Config.DenySerials revoke certificates (a
// leaf, or an intermediate or CA in the presented chain): a revoked peer is
// refused on both sides of the handshake.
//
// # Handshake
//
// After TLS, the dialer sends a hello frame and the listener answers. The
// answer is what lets Dial report a refusal as
// transport.ErrUnauthenticated: in TLS 1.3 a client finishes its handshake
// before the server has judged the client's certificate, so a refusal only
// shows on the first read. It also carries "too many connections" back to
// the dialer (transport.ErrTooManyConnections). Peers that fail never reach
// Accept; the listener logs them and drops them.
//
// # Wire format and hostile peers
//
// A frame is its length as an unsigned varint, then its bytes. The length
// is checked against the frame limit before anything is allocated, storage
// for a frame grows only as its bytes arrive, and a malformed or oversized
// length closes the connection with transport.ErrFrameTooLarge. A peer
// that stays silent past the handshake or idle timeout is dropped with
// transport.ErrConnectionLost.
//
// # Throughput
//
// TLS writes every record (at most 16 KiB) with its own system call and
// reads about one record per call. A connection puts a buffer between TLS
// and the socket in each direction, so a frame's records leave in 128 KiB
// writes and arrive in 128 KiB reads; records are full-sized from the
// first byte (no dynamic record sizing) and Nagle's algorithm is off (Go's
// default). TLS 1.3 negotiates AES-128-GCM on CPUs with AES instructions
// (ChaCha20-Poly1305 elsewhere); the TLSState method (transport.TLSConn)
// tells which. What remains is the cipher itself: sealing and opening
// cost more CPU per byte than a loopback copy does in all, so on a host
// short of cores TLS moves well under half what plain TCP moves
// (BenchmarkTLSVersusPlain in package transport measures both).
//
// # Insecure links
//
// Config.Insecure selects plain TCP with the same framing, for tests and
// trusted links only: nothing is encrypted, Identity.Authenticated is false
// and the peer's name is whatever it claims in its hello.
//
// # Contexts and goroutines
//
// Send and Recv honour their context with socket deadlines armed by
// context.AfterFunc, so no call starts a goroutine. A listener runs one
// accept goroutine and one per handshake in progress; Close waits for them.
// Connections run none.
package tcp
