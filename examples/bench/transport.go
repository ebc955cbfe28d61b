package main

import (
	"context"
	"encoding/binary"
	"fmt"
	"net"
	"path/filepath"
	"sync/atomic"

	"github.com/blockrep/blockrep/transport"
	"github.com/blockrep/blockrep/transport/certs"
	"github.com/blockrep/blockrep/transport/tcp"
)

// Host names of the two blockrep processes; the replica authorizes the
// primary by this name (its certificate's, or its hello's when insecure).
const (
	primaryName = "primary.bench"
	replicaName = "replica.bench"
)

// makeCerts writes a CA and one certificate for each host into dir.
func makeCerts(dir string) error {
	ca, err := certs.NewCA("blockrep bench CA")
	if err != nil {
		return err
	}
	if err := ca.WritePEM(filepath.Join(dir, "ca.pem"), ""); err != nil {
		return err
	}
	for _, name := range []string{primaryName, replicaName} {
		c, err := ca.IssueCert(name, certs.WithIPs(net.IPv4(127, 0, 0, 1)))
		if err != nil {
			return err
		}
		if err := c.WritePEM(filepath.Join(dir, name+".pem"), filepath.Join(dir, name+".key")); err != nil {
			return err
		}
	}
	return nil
}

// newTransport returns the TCP transport of host name: mutual TLS with the
// certificates in dir, or plain TCP when insecure.
func newTransport(dir, name string, insecure bool) (*tcp.Transport, error) {
	cfg := tcp.Config{Name: name, Insecure: insecure, ServerName: replicaName, IdleTimeout: -1}
	if !insecure {
		c, err := certs.LoadCert(filepath.Join(dir, name+".pem"), filepath.Join(dir, name+".key"))
		if err != nil {
			return nil, err
		}
		pool, err := certs.LoadPool(filepath.Join(dir, "ca.pem"))
		if err != nil {
			return nil, err
		}
		cfg.Certificates = append(cfg.Certificates, c.TLS)
		cfg.RootCAs = pool
	}
	t, err := tcp.New(cfg)
	if err != nil {
		return nil, fmt.Errorf("transport of %s: %w", name, err)
	}
	return t, nil
}

// countingTransport counts the bytes of every frame its connections send
// and receive, with their length prefix: the bytes the protocol puts on the
// wire, before TLS's record overhead (about 0.2%).
type countingTransport struct {
	transport.Transport
	n *atomic.Int64
}

func (t countingTransport) Dial(ctx context.Context, addr string) (transport.Conn, error) {
	c, err := t.Transport.Dial(ctx, addr)
	if err != nil {
		return nil, err
	}
	return &countingConn{Conn: c, n: t.n}, nil
}

type countingConn struct {
	transport.Conn
	n *atomic.Int64
}

func frameBytes(n int) int64 {
	var b [binary.MaxVarintLen64]byte
	return int64(n + binary.PutUvarint(b[:], uint64(n)))
}

func (c *countingConn) Send(ctx context.Context, msg []byte) error {
	err := c.Conn.Send(ctx, msg)
	if err == nil {
		c.n.Add(frameBytes(len(msg)))
	}
	return err
}

func (c *countingConn) Recv(ctx context.Context, buf []byte) ([]byte, error) {
	b, err := c.Conn.Recv(ctx, buf)
	if err == nil {
		c.n.Add(frameBytes(len(b)))
	}
	return b, err
}
