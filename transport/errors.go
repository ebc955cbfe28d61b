package transport

import "errors"

// Sentinel errors of the transport packages; implementations wrap them
// with %w so errors.Is works.
var (
	// ErrClosed is returned by Send, Recv and Accept on a closed Conn or
	// Listener.
	ErrClosed = errors.New("transport: closed")

	// ErrFrameTooLarge is returned by Send for a message over the frame
	// limit, and by Recv when the peer announces one (the connection is
	// then closed: a peer that lies about lengths is not trusted further).
	ErrFrameTooLarge = errors.New("transport: frame too large")

	// ErrUnauthenticated is returned by Dial when the peer's identity could
	// not be verified (no certificate, an untrusted, expired, revoked or
	// wrong-name certificate).
	ErrUnauthenticated = errors.New("transport: peer not authenticated")

	// ErrUnauthorized is returned by Authorizer.Authorize when no entry
	// allows the peer to replicate the group.
	ErrUnauthorized = errors.New("transport: peer not authorized")

	// ErrUnreachable is returned by Dial when nothing listens at the
	// address or the network between is partitioned. It is temporary.
	ErrUnreachable = errors.New("transport: peer unreachable")

	// ErrConnectionLost is returned by Send and Recv when the connection
	// broke (reset, cut, timed out, ended inside a frame: then the error
	// also wraps io.ErrUnexpectedEOF), by Dial when a handshake breaks or
	// times out, and by a stream Reader whose Conn ended before the
	// stream's end marker. It is temporary: dial again.
	ErrConnectionLost = errors.New("transport: connection lost")

	// ErrTooManyConnections is returned to a dialer (and logged by a
	// listener) when the listener's bound on concurrent connections is
	// reached. It is temporary.
	ErrTooManyConnections = errors.New("transport: too many connections")
)

// temporary is implemented by errors that know whether retrying may help.
type temporary interface{ Temporary() bool }

// IsTemporary reports whether the operation that returned err may succeed
// if retried later (on a new connection): an unreachable peer, a lost
// connection, a timeout, a full listener. Authentication, authorization and
// frame-size errors are not temporary, and neither are ErrClosed (this
// side closed), context.Canceled, nor a bare io.EOF: a peer that closed
// cleanly between frames is the protocol's to judge.
func IsTemporary(err error) bool {
	if err == nil {
		return false
	}
	switch {
	case errors.Is(err, ErrUnauthenticated), errors.Is(err, ErrUnauthorized), errors.Is(err, ErrFrameTooLarge):
		return false
	case errors.Is(err, ErrUnreachable), errors.Is(err, ErrConnectionLost), errors.Is(err, ErrTooManyConnections):
		return true
	}
	// A timeout is checked first: a *net.OpError around a timeout may
	// still call itself not Temporary.
	var to interface{ Timeout() bool }
	if errors.As(err, &to) && to.Timeout() {
		return true
	}
	var t temporary
	if errors.As(err, &t) {
		return t.Temporary()
	}
	return false
}
