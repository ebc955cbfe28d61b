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
