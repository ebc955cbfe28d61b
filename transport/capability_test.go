package transport_test

import (
	"crypto/tls"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/blockrep/blockrep/transport"
)

// tlsTestConn is a Conn with the TLSConn capability.
type tlsTestConn struct {
	limitTestConn
	state tls.ConnectionState
}

func (c *tlsTestConn) TLSState() (tls.ConnectionState, bool) { return c.state, true }

// selfWrapper unwraps to itself, a broken wrapper AsConn must survive.
type selfWrapper struct{ limitTestConn }

func (c *selfWrapper) Unwrap() transport.Conn { return c }

func TestAsConn(t *testing.T) {
	inner := &tlsTestConn{state: tls.ConnectionState{Version: tls.VersionTLS13}}
	limiter, err := transport.NewLimiter(0)
	require.NoError(t, err)
	wrapped := transport.LimitRecv(transport.LimitConn(inner, limiter, nil), limiter, nil)
	require.NotSame(t, transport.Conn(inner), wrapped)

	_, direct := wrapped.(transport.TLSConn)
	assert.False(t, direct, "the wrapper itself has no TLS state")
	tc, ok := transport.AsConn[transport.TLSConn](wrapped)
	require.True(t, ok, "found through two wrappers")
	state, ok := tc.TLSState()
	assert.True(t, ok)
	assert.Equal(t, uint16(tls.VersionTLS13), state.Version)

	_, ok = transport.AsConn[transport.TLSConn](transport.LimitConn(&limitTestConn{}, limiter, nil))
	assert.False(t, ok, "no Conn of the chain has the capability")
	_, ok = transport.AsConn[transport.TLSConn](&selfWrapper{})
	assert.False(t, ok, "a wrapper that returns itself ends the walk")
	_, ok = transport.AsConn[transport.TLSConn](nil)
	assert.False(t, ok)
}
