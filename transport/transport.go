package transport

import (
	"context"
	"io"
)

// Transport dials peers and listens for them. Implementations: the
// in-memory network (package transport/memory, for tests) and TCP with
// mutual TLS (package transport/tcp).
type Transport interface {
	// Dial connects to the peer listening at addr. It blocks until the
	// connection is established and the peer authenticated, ctx is done
	// (ctx.Err() is returned, wrapped), or the attempt fails. A refused or
	// unreachable peer gives an error for which IsTemporary reports true;
	// a peer that fails authentication gives one wrapping ErrUnauthenticated.
	Dial(ctx context.Context, addr string) (Conn, error)

	// Listen starts accepting connections at addr. The listener's Addr
	// reports the address actually bound (addr may ask for any port).
	Listen(ctx context.Context, addr string) (Listener, error)
}

// Listener accepts authenticated connections from peers.
type Listener interface {
	// Accept waits for the next connection whose peer has authenticated.
	// It returns ErrClosed after Close, or ctx's error when ctx is done.
	// Peers that fail authentication never surface here.
	Accept(ctx context.Context) (Conn, error)

	// Addr returns the address peers dial to reach this listener.
	Addr() string

	// Close stops listening; it does not close accepted connections.
	// It is idempotent.
	io.Closer
}

// Conn is one connection to a peer: an ordered, reliable sequence of
// messages (frames) in each direction. Frames keep their boundaries; each is
// at most the connection's frame limit (MaxFrameSize unless configured).
//
// Send and Recv may be called concurrently with each other, but Send must
// not be called concurrently with Send, nor Recv with Recv.
type Conn interface {
	// Send writes msg as one frame. It returns when the frame has been
	// handed to the network (not when the peer has read it), ctx's error
	// when ctx is done first (the connection is then unusable and closed),
	// ErrFrameTooLarge for a frame over the limit (nothing is sent), or
	// ErrClosed after Close. Send does not keep msg after it returns.
	Send(ctx context.Context, msg []byte) error

	// Recv reads the next frame. It returns the frame in buf's storage when
	// it fits (cap(buf) ≥ frame length), in new storage otherwise; the
	// length is checked against the frame limit before anything is
	// allocated (ErrFrameTooLarge, the connection is closed). io.EOF means
	// the peer closed cleanly between frames; a connection cut inside a
	// frame gives an error wrapping both io.ErrUnexpectedEOF and
	// ErrConnectionLost; ErrClosed means this end was closed.
	Recv(ctx context.Context, buf []byte) ([]byte, error)

	// Peer returns the authenticated identity of the other side.
	Peer() Identity

	// LocalAddr and RemoteAddr name the two ends, for logs.
	LocalAddr() string
	RemoteAddr() string

	// Close closes the connection; a blocked Send or Recv on either side
	// returns. It is idempotent.
	io.Closer
}

// Identity is who a peer is, as established by the transport.
type Identity struct {
	// Name is the peer's name: for TLS the first DNS SAN of its
	// certificate, or its Common Name when it has none; for the in-memory
	// network the name of the dialing endpoint.
	Name string

	// Authenticated is true when Name was proven (a verified certificate,
	// or the in-memory network's endpoint name). Over an insecure plain TCP
	// link it is false and Name is only what the peer claimed.
	Authenticated bool

	// Fingerprint is the SHA-256 of the peer's leaf certificate (DER), hex
	// encoded; empty when there is no certificate.
	Fingerprint string
}

// MaxFrameSize is the default bound on one frame read from the wire.
const MaxFrameSize = 16 << 20
