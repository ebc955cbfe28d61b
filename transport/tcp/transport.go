package tcp

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"strings"
	"time"

	"github.com/blockrep/blockrep/transport"
)

// Transport is TCP with mutual TLS 1.3 (or plain TCP when Insecure); it
// implements transport.Transport. It is safe for concurrent use and holds
// no resources itself: listeners and connections are closed by their users.
type Transport struct {
	cfg    Config
	denyFP map[string]bool
}

var (
	_ transport.Transport  = (*Transport)(nil)
	_ transport.NameDialer = (*Transport)(nil)
)

// New validates cfg and returns a Transport using it.
func New(cfg Config) (*Transport, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	t := &Transport{cfg: cfg.withDefaults(), denyFP: make(map[string]bool)}
	for _, fp := range cfg.DenyFingerprints {
		t.denyFP[strings.ToLower(fp)] = true
	}
	return t, nil
}

// Dial connects to the listener at addr ("host:port"), expecting its
// certificate to name Config.ServerName or, when that is empty, host.
func (t *Transport) Dial(ctx context.Context, addr string) (transport.Conn, error) {
	return t.DialName(ctx, addr, t.cfg.ServerName)
}

// DialName connects to the listener at addr, expecting its certificate to
// name serverName (host of addr when empty). Errors: ctx's error; one
// wrapping transport.ErrUnreachable when nothing answers at addr;
// transport.ErrUnauthenticated when either side refuses the other's
// certificate (untrusted, expired, revoked, wrong name, missing);
// transport.ErrTooManyConnections when the listener is full;
// transport.ErrConnectionLost when the handshake breaks or times out;
// ErrProtocol when the peer is not one of ours.
func (t *Transport) DialName(ctx context.Context, addr, serverName string) (transport.Conn, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("tcp: dial %s: %w", addr, err)
	}
	hctx, cancel := context.WithTimeout(ctx, t.cfg.HandshakeTimeout)
	defer cancel()
	d := net.Dialer{KeepAlive: t.cfg.KeepAlive}
	raw, err := d.DialContext(hctx, "tcp", addr)
	if err != nil {
		if ctx.Err() != nil {
			return nil, fmt.Errorf("tcp: dial %s: %w", addr, ctx.Err())
		}
		return nil, fmt.Errorf("tcp: dial %s: %w: %w", addr, transport.ErrUnreachable, err)
	}
	stop := context.AfterFunc(hctx, func() { _ = raw.SetDeadline(past) })
	c, err := t.clientHandshake(raw, addr, serverName)
	if !stop() && err == nil {
		err = fmt.Errorf("handshake aborted: %w", context.Cause(hctx))
	}
	if err != nil {
		_ = raw.Close()
		switch {
		case ctx.Err() != nil:
			return nil, fmt.Errorf("tcp: dial %s: %w", addr, ctx.Err())
		case hctx.Err() != nil:
			return nil, fmt.Errorf("tcp: dial %s: handshake took over %v: %w", addr, t.cfg.HandshakeTimeout, transport.ErrConnectionLost)
		}
		return nil, fmt.Errorf("tcp: dial %s: %w", addr, err)
	}
	_ = raw.SetDeadline(time.Time{})
	return c, nil
}

func (t *Transport) clientHandshake(raw net.Conn, addr, serverName string) (*conn, error) {
	nc := raw
	var sock *bufferedConn
	var peer transport.Identity
	if !t.cfg.Insecure {
		if serverName == "" {
			host, _, err := net.SplitHostPort(addr)
			if err != nil {
				return nil, fmt.Errorf("%w: %w", transport.ErrUnreachable, err)
			}
			serverName = host
		}
		sock = newBufferedConn(raw)
		tc := tls.Client(sock, t.clientTLS(serverName))
		if err := tc.Handshake(); err != nil {
			return nil, classifyHandshake(err)
		}
		peer = identity(tc.ConnectionState())
		nc = tc
	}
	c := newConn(nc, raw, t.cfg.FrameLimit, t.cfg.IdleTimeout)
	c.sock = sock
	if err := c.writeFrame(helloFrame(t.cfg.Name)); err != nil {
		return nil, classifyHandshake(err)
	}
	b, err := c.readFrame(nil, helloLimit)
	if err != nil {
		return nil, classifyHandshake(err)
	}
	status, name, err := parseReply(b)
	if err != nil {
		return nil, err
	}
	switch status {
	case statusOK:
	case statusBusy:
		return nil, fmt.Errorf("listener refused the connection: %w", transport.ErrTooManyConnections)
	default:
		return nil, fmt.Errorf("%w: reply status %d", ErrProtocol, status)
	}
	if t.cfg.Insecure {
		peer = transport.Identity{Name: name}
	}
	c.peer = peer
	return c, nil
}

// classifyHandshake wraps a handshake failure in the sentinel a caller
// acts on.
func classifyHandshake(err error) error {
	var op *net.OpError
	switch {
	case errors.As(err, &op) && op.Op == "remote error":
		return fmt.Errorf("%w: the peer refused our certificate: %w", transport.ErrUnauthenticated, err)
	case isAuthError(err):
		if errors.Is(err, transport.ErrUnauthenticated) {
			return err
		}
		return fmt.Errorf("%w: %w", transport.ErrUnauthenticated, err)
	case errors.Is(err, transport.ErrFrameTooLarge):
		return fmt.Errorf("%w: %w", ErrProtocol, err)
	}
	return fmt.Errorf("%w: %w", transport.ErrConnectionLost, err)
}
