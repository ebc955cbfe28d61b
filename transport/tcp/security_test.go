package tcp_test

import (
	"context"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"io"
	"math/big"
	"math/rand/v2"
	"net"
	"runtime"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/blockrep/blockrep/transport"
	"github.com/blockrep/blockrep/transport/certs"
	"github.com/blockrep/blockrep/transport/tcp"
	"github.com/blockrep/blockrep/transport/transporttest"
)

// listen starts a listener for cfg on loopback, closed at the end of t.
func listen(t *testing.T, cfg tcp.Config) transport.Listener {
	t.Helper()
	l, err := newTransport(t, cfg).Listen(t.Context(), "127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { _ = l.Close() })
	return l
}

// requireGoodPeerAccepted dials l with a valid certificate and checks that
// the next accepted connection is that one: no refused peer slipped into
// the accept queue before it.
func requireGoodPeerAccepted(t *testing.T, p pki, l transport.Listener) {
	t.Helper()
	dialed, accepted := transporttest.Dial(t, newTransport(t, p.config(p.primary)), l)
	assert.Equal(t, "primary.example", accepted.Peer().Name)
	assert.Equal(t, p.primary.Fingerprint(), accepted.Peer().Fingerprint)
	assert.Equal(t, p.replica.Fingerprint(), dialed.Peer().Fingerprint)
}

func TestDialRefusals(t *testing.T) {
	p := newPKI(t)
	other, err := certs.NewCA("another CA")
	require.NoError(t, err)
	strangerCert, err := other.IssueCert("primary.example")
	require.NoError(t, err)
	strangerServer, err := other.IssueCert("replica.example")
	require.NoError(t, err)
	old := time.Now().AddDate(-2, 0, 0)
	expiredClient, err := p.ca.IssueCert("primary.example", certs.WithValidity(old, old.AddDate(1, 0, 0)))
	require.NoError(t, err)
	expiredServer, err := p.ca.IssueCert("replica.example", certs.WithValidity(old, old.AddDate(1, 0, 0)))
	require.NoError(t, err)

	tests := []struct {
		name       string
		server     func(tcp.Config) tcp.Config
		client     func(tcp.Config) tcp.Config
		serverName string
	}{
		{name: "client cert from another CA", client: func(c tcp.Config) tcp.Config {
			c.Certificates = []tls.Certificate{strangerCert.TLS}
			return c
		}},
		{name: "server cert from another CA", server: func(c tcp.Config) tcp.Config {
			c.Certificates = []tls.Certificate{strangerServer.TLS}
			return c
		}},
		{name: "expired client cert", client: func(c tcp.Config) tcp.Config {
			c.Certificates = []tls.Certificate{expiredClient.TLS}
			return c
		}},
		{name: "expired server cert", server: func(c tcp.Config) tcp.Config {
			c.Certificates = []tls.Certificate{expiredServer.TLS}
			return c
		}},
		{name: "server clock past the client cert", server: func(c tcp.Config) tcp.Config {
			c.Now = func() time.Time { return time.Now().AddDate(5, 0, 0) }
			return c
		}},
		{name: "wrong server name", serverName: "other.example"},
		{name: "client revoked by fingerprint", server: func(c tcp.Config) tcp.Config {
			c.DenyFingerprints = []string{"00", p.primary.Fingerprint()}
			return c
		}},
		{name: "client revoked by serial", server: func(c tcp.Config) tcp.Config {
			c.DenySerials = []*big.Int{p.primary.Leaf.SerialNumber}
			return c
		}},
		{name: "server revoked by fingerprint", client: func(c tcp.Config) tcp.Config {
			c.DenyFingerprints = []string{p.replica.Fingerprint()}
			return c
		}},
		{name: "server revoked by serial", client: func(c tcp.Config) tcp.Config {
			c.DenySerials = []*big.Int{p.replica.Leaf.SerialNumber}
			return c
		}},
		{name: "CA revoked", client: func(c tcp.Config) tcp.Config {
			c.DenySerials = []*big.Int{p.ca.Cert.SerialNumber}
			return c
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			scfg, ccfg := p.config(p.replica), p.config(p.primary)
			if tc.server != nil {
				scfg = tc.server(scfg)
			}
			if tc.client != nil {
				ccfg = tc.client(ccfg)
			}
			// The CA's own certificate is only presented when a chain holds
			// it; make the server present it so revoking the CA is tested.
			if tc.name == "CA revoked" {
				scfg.Certificates = []tls.Certificate{{
					Certificate: [][]byte{p.replica.Leaf.Raw, p.ca.Cert.Raw},
					PrivateKey:  p.replica.TLS.PrivateKey,
				}}
			}
			l := listen(t, scfg)
			client := newTransport(t, ccfg)
			serverName := "replica.example"
			if tc.serverName != "" {
				serverName = tc.serverName
			}
			c, err := client.DialName(t.Context(), l.Addr(), serverName)
			require.ErrorIs(t, err, transport.ErrUnauthenticated)
			assert.Nil(t, c)
			assert.False(t, transport.IsTemporary(err), "an authentication failure is not retried: %v", err)
			t.Logf("refused: %v", err)

			// The listener goes on serving good peers.
			if tc.server == nil {
				requireGoodPeerAccepted(t, p, l)
			}
		})
	}
}

// rawTLS connects to l with a bare TLS client presenting certificates.
func rawTLS(t *testing.T, p pki, addr string, certificates ...tls.Certificate) *tls.Conn {
	t.Helper()
	c, err := tls.Dial("tcp", addr, &tls.Config{
		Certificates: certificates,
		RootCAs:      p.ca.Pool(),
		ServerName:   "replica.example",
		MinVersion:   tls.VersionTLS13,
	})
	require.NoError(t, err)
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func TestClientWithoutCertificate(t *testing.T) {
	p := newPKI(t)
	l := listen(t, p.config(p.replica))
	c := rawTLS(t, p, l.Addr()) // TLS 1.3: the client's handshake ends before the server checks
	_, err := c.Read(make([]byte, 1))
	require.Error(t, err, "the server must refuse a client without a certificate")
	assert.Contains(t, err.Error(), "certificate required")
	requireGoodPeerAccepted(t, p, l)
}

// speak does the hello exchange on a raw connection, as a dialer.
func speak(t *testing.T, c net.Conn, name string) {
	t.Helper()
	hello := append([]byte{byte(4 + len(name))}, "BRT1"+name...)
	_, err := c.Write(hello)
	require.NoError(t, err)
	var n [1]byte
	_, err = io.ReadFull(c, n[:])
	require.NoError(t, err)
	reply := make([]byte, n[0])
	_, err = io.ReadFull(c, reply)
	require.NoError(t, err)
	require.Equal(t, "BRT1\x00", string(reply[:5]), "listener must accept the hello")
}

// hostileLengths are frame headers a listener must refuse without
// allocating: 2^62, the largest uvarint, one over the limit, and garbage
// that is no uvarint at all.
func hostileLengths(limit int) map[string][]byte {
	return map[string][]byte{
		"2^62":           binary.AppendUvarint(nil, 1<<62),
		"max uint64":     binary.AppendUvarint(nil, ^uint64(0)),
		"limit+1":        binary.AppendUvarint(nil, uint64(limit)+1),
		"garbage varint": {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01},
	}
}

func TestHostileFrameLength(t *testing.T) {
	p := newPKI(t)
	const limit = 1 << 20
	for name, header := range hostileLengths(limit) {
		for _, insecure := range []bool{false, true} {
			t.Run(name+map[bool]string{false: "/tls", true: "/insecure"}[insecure], func(t *testing.T) {
				cfg := p.config(p.replica)
				cfg.FrameLimit = limit
				if insecure {
					cfg = tcp.Config{Insecure: true, Name: "replica", FrameLimit: limit}
				}
				l := listen(t, cfg)
				var c net.Conn
				if insecure {
					raw, err := net.Dial("tcp", l.Addr())
					require.NoError(t, err)
					t.Cleanup(func() { _ = raw.Close() })
					c = raw
				} else {
					c = rawTLS(t, p, l.Addr(), p.primary.TLS)
				}
				speak(t, c, "attacker")
				accepted, err := l.Accept(t.Context())
				require.NoError(t, err)
				defer accepted.Close()
				_, err = c.Write(header)
				require.NoError(t, err)

				var before, after runtime.MemStats
				runtime.ReadMemStats(&before)
				_, err = accepted.Recv(t.Context(), nil)
				runtime.ReadMemStats(&after)
				require.ErrorIs(t, err, transport.ErrFrameTooLarge)
				assert.Less(t, after.TotalAlloc-before.TotalAlloc, uint64(64<<10), "a refused length must not be allocated")
				_, err = accepted.Recv(t.Context(), nil)
				require.ErrorIs(t, err, transport.ErrClosed, "the connection is dropped")
				// The attacker sees the connection closed.
				_, err = io.ReadAll(c)
				if err != nil {
					assert.True(t, errors.Is(err, net.ErrClosed) || isReset(err), "unexpected: %v", err)
				}
			})
		}
	}
}

func isReset(err error) bool {
	var op *net.OpError
	return errors.As(err, &op)
}

// A peer that announces a large frame under the limit and sends little of
// it costs only what it sent.
func TestAnnouncedFrameGrowsWithData(t *testing.T) {
	p := newPKI(t)
	l := listen(t, p.config(p.replica))
	c := rawTLS(t, p, l.Addr(), p.primary.TLS)
	speak(t, c, "")
	accepted, err := l.Accept(t.Context())
	require.NoError(t, err)
	defer accepted.Close()
	_, err = c.Write(append(binary.AppendUvarint(nil, transport.MaxFrameSize), "only this"...))
	require.NoError(t, err)
	require.NoError(t, c.Close())

	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	_, err = accepted.Recv(t.Context(), nil)
	runtime.ReadMemStats(&after)
	require.ErrorIs(t, err, io.ErrUnexpectedEOF)
	assert.True(t, transport.IsTemporary(err), "a frame cut short is a lost connection: %v", err)
	assert.Less(t, after.TotalAlloc-before.TotalAlloc, uint64(1<<20), "storage must grow with the data, not the announced length")
}

func TestGarbageInsteadOfHandshake(t *testing.T) {
	seed := rand.Uint64()
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 0))
	p := newPKI(t)
	for _, insecure := range []bool{false, true} {
		cfg := p.config(p.replica)
		if insecure {
			cfg = tcp.Config{Insecure: true, Name: "replica"}
		}
		l := listen(t, cfg)
		for i := range 5 {
			garbage := make([]byte, 1+rng.IntN(4096))
			for j := range garbage {
				garbage[j] = byte(rng.Uint32())
			}
			if i == 0 {
				garbage = append(binary.AppendUvarint(nil, 1<<62), garbage...)
			}
			raw, err := net.Dial("tcp", l.Addr())
			require.NoError(t, err)
			_, _ = raw.Write(garbage) // the listener may already have hung up
			_, err = io.Copy(io.Discard, raw)
			_ = raw.Close()
			if err != nil {
				assert.True(t, isReset(err), "unexpected: %v", err)
			}
		}
		if insecure {
			dialer := newTransport(t, tcp.Config{Insecure: true, Name: "primary"})
			_, accepted := transporttest.Dial(t, dialer, l)
			assert.Equal(t, transport.Identity{Name: "primary"}, accepted.Peer())
		} else {
			requireGoodPeerAccepted(t, p, l)
		}
	}
}

func TestSilentPeers(t *testing.T) {
	p := newPKI(t)
	// Short timeouts make the tests quick; where a good peer must get
	// through as well, only the timeout under test is short, so a loaded
	// machine cannot fail the good peer.
	// The handshake bound also covers connecting, which on a loaded
	// machine can take a scheduling delay: 250 ms keeps a dial to a silent
	// listener a handshake timeout (ErrConnectionLost), not a connect
	// timeout (ErrUnreachable).
	short := func(c tcp.Config) tcp.Config {
		c.HandshakeTimeout = 250 * time.Millisecond
		return c
	}
	shortIdle := func(c tcp.Config) tcp.Config {
		c.IdleTimeout = 50 * time.Millisecond
		return c
	}

	t.Run("silent dialer dropped by the listener", func(t *testing.T) {
		l := listen(t, short(p.config(p.replica)))
		raw, err := net.Dial("tcp", l.Addr())
		require.NoError(t, err)
		defer raw.Close()
		// Blocks until the listener gives up on the handshake.
		n, err := io.Copy(io.Discard, raw)
		assert.Zero(t, n)
		if err != nil {
			assert.True(t, isReset(err), "unexpected: %v", err)
		}
	})

	t.Run("silent listener fails the dial", func(t *testing.T) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		require.NoError(t, err)
		defer ln.Close()
		held := make(chan net.Conn, 1)
		go func() {
			c, err := ln.Accept()
			if err == nil {
				held <- c
			}
			close(held)
		}()
		_, err = newTransport(t, short(p.config(p.primary))).Dial(t.Context(), ln.Addr().String())
		require.ErrorIs(t, err, transport.ErrConnectionLost)
		assert.True(t, transport.IsTemporary(err))
		if c, ok := <-held; ok {
			_ = c.Close()
		}
	})

	t.Run("peer that stops reading", func(t *testing.T) {
		l := listen(t, p.config(p.replica))
		dialed, _ := transporttest.Dial(t, newTransport(t, shortIdle(p.config(p.primary))), l)
		msg := make([]byte, 1<<20)
		var err error
		for i := 0; err == nil; i++ {
			require.Less(t, i, 10000, "Send never blocked")
			err = dialed.Send(t.Context(), msg) // blocks once the socket buffers are full
		}
		require.ErrorIs(t, err, transport.ErrConnectionLost)
		assert.True(t, transport.IsTemporary(err))
		require.ErrorIs(t, dialed.Send(t.Context(), []byte("x")), transport.ErrClosed, "the stalled connection was closed")
	})

	t.Run("silent peer after the handshake", func(t *testing.T) {
		l := listen(t, shortIdle(p.config(p.replica)))
		dialed, accepted := transporttest.Dial(t, newTransport(t, p.config(p.primary)), l)
		_, err := accepted.Recv(t.Context(), nil)
		require.ErrorIs(t, err, transport.ErrConnectionLost)
		assert.True(t, transport.IsTemporary(err))
		// The timed-out side closed: the dialer sees the end.
		_, err = dialed.Recv(t.Context(), nil)
		require.ErrorIs(t, err, io.EOF)
	})
}

func TestConnectionBound(t *testing.T) {
	p := newPKI(t)
	cfg := p.config(p.replica)
	cfg.MaxConns = 2
	l := listen(t, cfg)
	client := newTransport(t, p.config(p.primary))
	ctx := t.Context()

	first, err := client.Dial(ctx, l.Addr())
	require.NoError(t, err)
	defer first.Close()
	second, err := client.Dial(ctx, l.Addr()) // held in the accept queue
	require.NoError(t, err)
	defer second.Close()
	for range 5 {
		_, err = client.Dial(ctx, l.Addr())
		require.ErrorIs(t, err, transport.ErrTooManyConnections)
		assert.True(t, transport.IsTemporary(err))
	}

	// Closing an accepted connection frees its slot.
	a1, err := l.Accept(ctx)
	require.NoError(t, err)
	require.NoError(t, a1.Close())
	third, err := client.Dial(ctx, l.Addr())
	require.NoError(t, err)
	defer third.Close()
	_, err = client.Dial(ctx, l.Addr())
	require.ErrorIs(t, err, transport.ErrTooManyConnections)
}

func TestHandshakeBound(t *testing.T) {
	p := newPKI(t)
	cfg := p.config(p.replica)
	cfg.MaxHandshakes = 1
	l := listen(t, cfg)
	// A silent connection holds the only handshake slot.
	silent, err := net.Dial("tcp", l.Addr())
	require.NoError(t, err)
	ccfg := p.config(p.primary)
	ccfg.HandshakeTimeout = 5 * time.Second
	_, err = newTransport(t, ccfg).Dial(t.Context(), l.Addr())
	require.ErrorIs(t, err, transport.ErrConnectionLost, "a peer over the handshake bound is dropped at once")
	assert.True(t, transport.IsTemporary(err))
	require.NoError(t, silent.Close())
}

func TestDialUnreachable(t *testing.T) {
	p := newPKI(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close())
	_, err = newTransport(t, p.config(p.primary)).Dial(t.Context(), addr)
	require.ErrorIs(t, err, transport.ErrUnreachable)
	assert.True(t, transport.IsTemporary(err))
}

func TestDialCancelDuringHandshake(t *testing.T) {
	p := newPKI(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, err := ln.Accept()
		if err == nil {
			accepted <- c
		}
		close(accepted)
	}()
	client := newTransport(t, p.config(p.primary))
	ctx, cancel := context.WithCancel(t.Context())
	errc := make(chan error, 1)
	go func() {
		_, err := client.Dial(ctx, ln.Addr().String())
		errc <- err
	}()
	c := <-accepted // the dial is now waiting for a server that never answers
	defer c.Close()
	cancel()
	require.ErrorIs(t, <-errc, context.Canceled)
}

func TestInsecureNames(t *testing.T) {
	l := listen(t, tcp.Config{Insecure: true, Name: "replica"})
	raw, err := net.Dial("tcp", l.Addr())
	require.NoError(t, err)
	defer raw.Close()
	_, err = raw.Write(append([]byte{9}, "BRT1bad\x00x"...))
	require.NoError(t, err)
	_, err = io.Copy(io.Discard, raw)
	if err != nil {
		assert.True(t, isReset(err), "unexpected: %v", err)
	}
	dialed, accepted := transporttest.Dial(t, newTransport(t, tcp.Config{Insecure: true, Name: "primary"}), l)
	assert.Equal(t, transport.Identity{Name: "replica"}, dialed.Peer())
	assert.Equal(t, transport.Identity{Name: "primary"}, accepted.Peer())
}

func TestConfigValidate(t *testing.T) {
	p := newPKI(t)
	good := p.config(p.primary)
	tests := []struct {
		name string
		edit func(*tcp.Config)
		ok   bool
	}{
		{"mutual TLS", func(*tcp.Config) {}, true},
		{"insecure with a name", func(c *tcp.Config) { *c = tcp.Config{Insecure: true, Name: "x"} }, true},
		{"no certificate", func(c *tcp.Config) { c.Certificates = nil }, false},
		{"no roots", func(c *tcp.Config) { c.RootCAs = nil }, false},
		{"insecure without a name", func(c *tcp.Config) { *c = tcp.Config{Insecure: true} }, false},
		{"name too long", func(c *tcp.Config) { c.Name = string(make([]byte, tcp.MaxNameLen+1)) }, false},
		{"negative frame limit", func(c *tcp.Config) { c.FrameLimit = -1 }, false},
		{"negative handshake timeout", func(c *tcp.Config) { c.HandshakeTimeout = -1 }, false},
		{"negative max conns", func(c *tcp.Config) { c.MaxConns = -1 }, false},
		{"nil serial", func(c *tcp.Config) { c.DenySerials = []*big.Int{nil} }, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := good
			tc.edit(&cfg)
			_, err := tcp.New(cfg)
			if tc.ok {
				require.NoError(t, err)
				return
			}
			require.ErrorIs(t, err, tcp.ErrConfig)
		})
	}
}

// A listener that answers the hello with nonsense, or with a huge length,
// fails the dial with ErrProtocol (the reply length is checked against a
// small hello limit before anything is read into memory).
func TestHostileListener(t *testing.T) {
	for name, reply := range map[string][]byte{
		"huge length":   binary.AppendUvarint(nil, 1<<62),
		"wrong magic":   append([]byte{6}, "HTTP/1"...),
		"unknown state": append([]byte{5}, "BRT1\x07"...),
	} {
		t.Run(name, func(t *testing.T) {
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			require.NoError(t, err)
			defer ln.Close()
			served := make(chan struct{})
			go func() {
				defer close(served)
				c, err := ln.Accept()
				if err != nil {
					return
				}
				defer c.Close()
				var hello [64]byte
				_, _ = c.Read(hello[:])
				_, _ = c.Write(reply)
				_, _ = io.Copy(io.Discard, c) // until the dialer hangs up
			}()
			_, err = newTransport(t, tcp.Config{Insecure: true, Name: "primary"}).Dial(t.Context(), ln.Addr().String())
			require.ErrorIs(t, err, tcp.ErrProtocol)
			assert.False(t, transport.IsTemporary(err))
			<-served
		})
	}
}
