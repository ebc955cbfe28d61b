package tcp_test

import (
	"crypto/tls"

	"testing"

	"github.com/stretchr/testify/require"

	"github.com/blockrep/blockrep/transport/certs"
	"github.com/blockrep/blockrep/transport/tcp"
	"github.com/blockrep/blockrep/transport/transporttest"
)

// pki is a CA with certificates for two hosts.
type pki struct {
	ca               *certs.CA
	primary, replica *certs.Cert
}

func newPKI(t *testing.T) pki {
	t.Helper()
	ca, err := certs.NewCA("blockrep test CA")
	require.NoError(t, err)
	primary, err := ca.IssueCert("primary.example")
	require.NoError(t, err)
	replica, err := ca.IssueCert("replica.example")
	require.NoError(t, err)
	return pki{ca: ca, primary: primary, replica: replica}
}

// config returns a mutual-TLS config for cert, trusting the CA and
// expecting servers named replica.example.
func (p pki) config(cert *certs.Cert) tcp.Config {
	return tcp.Config{
		Certificates: []tls.Certificate{cert.TLS},
		RootCAs:      p.ca.Pool(),
		ServerName:   "replica.example",
	}
}

func newTransport(t *testing.T, cfg tcp.Config) *tcp.Transport {
	t.Helper()
	tr, err := tcp.New(cfg)
	require.NoError(t, err)
	return tr
}

func TestConformanceTLS(t *testing.T) {
	p := newPKI(t)
	transporttest.Run(t, func(t *testing.T) transporttest.Pair {
		return transporttest.Pair{
			Dialer:       newTransport(t, p.config(p.primary)),
			Listener:     newTransport(t, p.config(p.replica)),
			ListenAddr:   "127.0.0.1:0",
			DialerName:   "primary.example",
			ListenerName: "replica.example",
		}
	})
}

func TestConformanceInsecure(t *testing.T) {
	if testing.Short() {
		t.Skip("the TLS run covers the framing; -short skips the plain one")
	}
	transporttest.Run(t, func(t *testing.T) transporttest.Pair {
		return transporttest.Pair{
			Dialer:       newTransport(t, tcp.Config{Insecure: true, Name: "primary"}),
			Listener:     newTransport(t, tcp.Config{Insecure: true, Name: "replica"}),
			ListenAddr:   "127.0.0.1:0",
			DialerName:   "primary",
			ListenerName: "replica",
			Insecure:     true,
		}
	})
}
