package tcp_test

import (
	"crypto/tls"
	"encoding/binary"
	"io"
	"net"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/blockrep/blockrep/transport"
	"github.com/blockrep/blockrep/transport/tcp"
	"github.com/blockrep/blockrep/transport/transporttest"
)

// TestRealErrorsClassified breaks connections the ways networks do and
// checks that what Recv and Send return is classified for a retry:
// transport.ErrConnectionLost and IsTemporary. (Refused dials and silent
// peers are in TestDialUnreachable and TestSilentPeers.)
func TestRealErrorsClassified(t *testing.T) {
	p := newPKI(t)
	tests := []struct {
		name   string
		attack func(t *testing.T, c *tls.Conn)
		send   bool // check Send as well: the peer is gone for good
	}{
		{"reset by peer", func(t *testing.T, c *tls.Conn) {
			tcpConn := c.NetConn().(*net.TCPConn)
			require.NoError(t, tcpConn.SetLinger(0)) // close sends RST
			require.NoError(t, tcpConn.Close())
		}, true},
		{"reset inside a frame", func(t *testing.T, c *tls.Conn) {
			_, err := c.Write(append(binary.AppendUvarint(nil, 100), "ten bytes."...))
			require.NoError(t, err)
			tcpConn := c.NetConn().(*net.TCPConn)
			require.NoError(t, tcpConn.SetLinger(0))
			require.NoError(t, tcpConn.Close())
		}, true},
		{"clean close inside a frame", func(t *testing.T, c *tls.Conn) {
			_, err := c.Write(append(binary.AppendUvarint(nil, 100), "ten bytes."...))
			require.NoError(t, err)
			require.NoError(t, c.Close())
		}, false},
		{"clean close inside a length", func(t *testing.T, c *tls.Conn) {
			_, err := c.Write([]byte{0x80, 0x80})
			require.NoError(t, err)
			require.NoError(t, c.Close())
		}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			l := listen(t, p.config(p.replica))
			c := rawTLS(t, p, l.Addr(), p.primary.TLS)
			speak(t, c, "")
			accepted, err := l.Accept(t.Context())
			require.NoError(t, err)
			defer accepted.Close()
			tc.attack(t, c)

			_, err = accepted.Recv(t.Context(), nil)
			require.ErrorIs(t, err, transport.ErrConnectionLost)
			assert.True(t, transport.IsTemporary(err), "%v", err)
			t.Logf("recv: %v", err)
			if !tc.send { // a clean close, not a reset (which may discard what was sent)
				assert.ErrorIs(t, err, io.ErrUnexpectedEOF, "the frame was cut short")
			}
			if tc.send {
				err = accepted.Send(t.Context(), []byte("x"))
				require.ErrorIs(t, err, transport.ErrClosed, "a lost connection is closed")
				assert.False(t, transport.IsTemporary(err), "this side closed it")
			}
		})
	}

	t.Run("send to a reset peer", func(t *testing.T) {
		l := listen(t, p.config(p.replica))
		c := rawTLS(t, p, l.Addr(), p.primary.TLS)
		speak(t, c, "")
		accepted, err := l.Accept(t.Context())
		require.NoError(t, err)
		defer accepted.Close()
		tcpConn := c.NetConn().(*net.TCPConn)
		require.NoError(t, tcpConn.SetLinger(0))
		require.NoError(t, tcpConn.Close())
		msg := make([]byte, 64<<10)
		for i := 0; ; i++ {
			require.Less(t, i, 10000, "Send to a reset peer never failed")
			if err = accepted.Send(t.Context(), msg); err != nil {
				break
			}
		}
		require.ErrorIs(t, err, transport.ErrConnectionLost)
		assert.True(t, transport.IsTemporary(err), "%v", err)
		t.Logf("send: %v", err)
	})
}

// TestCapabilities: a TLS connection reports its TLS 1.3 state through
// transport.TLSConn, also through a LimitConn wrapper; an insecure one
// says it has none; the Transport dials by name (transport.NameDialer).
func TestCapabilities(t *testing.T) {
	p := newPKI(t)
	var nd transport.NameDialer = newTransport(t, p.config(p.primary))
	l := listen(t, p.config(p.replica))
	dialed, err := nd.DialName(t.Context(), l.Addr(), "replica.example")
	require.NoError(t, err)
	defer dialed.Close()
	accepted, err := l.Accept(t.Context())
	require.NoError(t, err)
	defer accepted.Close()

	limiter, err := transport.NewLimiter(0)
	require.NoError(t, err)
	for _, c := range []transport.Conn{dialed, accepted, transport.LimitConn(dialed, limiter, nil)} {
		tc, ok := transport.AsConn[transport.TLSConn](c)
		require.True(t, ok)
		state, ok := tc.TLSState()
		require.True(t, ok)
		assert.Equal(t, uint16(tls.VersionTLS13), state.Version)
		assert.True(t, state.HandshakeComplete)
		assert.Contains(t, []uint16{tls.TLS_AES_128_GCM_SHA256, tls.TLS_AES_256_GCM_SHA384, tls.TLS_CHACHA20_POLY1305_SHA256}, state.CipherSuite)
		require.NotEmpty(t, state.PeerCertificates)
		assert.Equal(t, c.Peer().Fingerprint, tcp.Fingerprint(state.PeerCertificates[0]))
		t.Logf("%s: %s", c.LocalAddr(), tls.CipherSuiteName(state.CipherSuite))
	}

	il := listen(t, tcp.Config{Insecure: true, Name: "replica"})
	plain, _ := transporttest.Dial(t, newTransport(t, tcp.Config{Insecure: true, Name: "primary"}), il)
	tc, ok := transport.AsConn[transport.TLSConn](plain)
	require.True(t, ok, "the type has the capability")
	_, ok = tc.TLSState()
	assert.False(t, ok, "but an insecure link has no TLS state")
}
