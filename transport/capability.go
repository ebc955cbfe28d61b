package transport

import (
	"context"
	"crypto/tls"
)

// Optional capabilities. A Transport or Conn may implement any of these
// small interfaces besides the core ones; callers find them with a type
// assertion (for a Transport) or AsConn (for a Conn, which may be
// wrapped), so the core interfaces never have to grow.

// NameDialer is implemented by transports whose peers prove a name that
// may differ from the address dialed: with TLS, the name the listener's
// certificate must carry when the address is an IP or an alias
// (transport/tcp implements it).
type NameDialer interface {
	// DialName connects to the listener at addr like Dial, and requires
	// the peer to prove the identity name.
	DialName(ctx context.Context, addr, name string) (Conn, error)
}

// TLSConn is implemented by connections that can run over TLS, for logs
// and audits: version, cipher suite, the peer's verified chains.
type TLSConn interface {
	// TLSState returns the connection's TLS state, and false when the
	// connection does not run over TLS (an insecure link).
	TLSState() (tls.ConnectionState, bool)
}

// Unwrapper is implemented by Conns that wrap another Conn (LimitConn and
// LimitRecv do), so that the wrapped Conn's optional capabilities stay
// reachable through AsConn.
type Unwrapper interface {
	// Unwrap returns the wrapped Conn.
	Unwrap() Conn
}

// maxUnwrap bounds the wrapper chain AsConn walks, so that a wrapper that
// returns itself cannot loop forever.
const maxUnwrap = 64

// AsConn returns the first Conn of c's wrapper chain, c itself first, that
// implements T, following Unwrapper; ok is false when none does.
func AsConn[T any](c Conn) (capability T, ok bool) {
	for range maxUnwrap {
		if c == nil {
			break
		}
		if capability, ok = c.(T); ok {
			return capability, true
		}
		u, isWrapper := c.(Unwrapper)
		if !isWrapper {
			break
		}
		c = u.Unwrap()
	}
	var zero T
	return zero, false
}
