package tcp

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"sync"
	"time"

	"github.com/blockrep/blockrep/transport"
)

// Listen starts accepting peers at addr ("host:port", port 0 picks one).
// The listener runs one goroutine accepting TCP connections and one per
// handshake in progress (at most Config.MaxHandshakes); Close stops them
// all.
func (t *Transport) Listen(ctx context.Context, addr string) (transport.Listener, error) {
	lc := net.ListenConfig{KeepAlive: t.cfg.KeepAlive}
	ln, err := lc.Listen(ctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("tcp: listen %s: %w", addr, err)
	}
	lctx, cancel := context.WithCancel(context.Background())
	l := &listener{
		t:      t,
		ln:     ln,
		ctx:    lctx,
		cancel: cancel,
		sem:    make(chan struct{}, t.cfg.MaxHandshakes),
		queue:  make(chan *conn, t.cfg.MaxConns),
	}
	if !t.cfg.Insecure {
		l.tls = t.serverTLS()
	}
	l.wg.Go(l.serve)
	return l, nil
}

type listener struct {
	t      *Transport
	ln     net.Listener
	tls    *tls.Config
	ctx    context.Context // done when Close begins
	cancel context.CancelFunc
	wg     sync.WaitGroup
	sem    chan struct{} // handshakes in progress
	queue  chan *conn    // authenticated, waiting for Accept

	mu     sync.Mutex
	active int // connections holding a slot: queued or accepted and open
	closed sync.Once
}

var _ transport.Listener = (*listener)(nil)

func (l *listener) serve() {
	log := l.t.cfg.Logger
	backoff := 5 * time.Millisecond
	for {
		raw, err := l.ln.Accept()
		if err != nil {
			if l.ctx.Err() != nil || errors.Is(err, net.ErrClosed) {
				return
			}
			log.Warn("tcp: accept failed", "addr", l.Addr(), "err", err, "retry_in", backoff)
			timer := time.NewTimer(backoff)
			select {
			case <-l.ctx.Done():
				timer.Stop()
				return
			case <-timer.C:
			}
			backoff = min(2*backoff, time.Second)
			continue
		}
		backoff = 5 * time.Millisecond
		select {
		case l.sem <- struct{}{}:
		default:
			log.Warn("tcp: too many handshakes in progress, dropping peer", "remote", raw.RemoteAddr().String())
			_ = raw.Close()
			continue
		}
		l.wg.Go(func() {
			defer func() { <-l.sem }()
			l.handshake(raw)
		})
	}
}

// handshake authenticates one peer and queues it for Accept; a peer that
// fails is logged and dropped.
func (l *listener) handshake(raw net.Conn) {
	cfg := &l.t.cfg
	log := cfg.Logger
	remote := raw.RemoteAddr().String()
	_ = raw.SetDeadline(time.Now().Add(cfg.HandshakeTimeout))
	stop := context.AfterFunc(l.ctx, func() { _ = raw.SetDeadline(past) })
	defer stop()

	nc := raw
	var sock *bufferedConn
	var peer transport.Identity
	if l.tls != nil {
		sock = newBufferedConn(raw)
		tc := tls.Server(sock, l.tls)
		if err := tc.Handshake(); err != nil {
			log.Info("tcp: refused peer", "remote", remote, "err", err)
			_ = raw.Close()
			return
		}
		peer = identity(tc.ConnectionState())
		nc = tc
	}
	c := newConn(nc, raw, cfg.FrameLimit, cfg.IdleTimeout)
	c.sock = sock
	b, err := c.readFrame(nil, helloLimit)
	if err == nil {
		var name string
		name, err = parseHello(b)
		if cfg.Insecure {
			peer = transport.Identity{Name: name}
		}
	}
	if err != nil {
		log.Info("tcp: dropped peer during hello", "remote", remote, "err", err)
		_ = raw.Close()
		return
	}
	c.peer = peer
	if !l.reserve() {
		log.Warn("tcp: too many connections, refusing peer", "remote", remote, "peer", peer.Name, "max", cfg.MaxConns)
		_ = c.writeFrame(replyFrame(statusBusy, cfg.Name))
		_ = raw.Close()
		return
	}
	c.onClose = l.release
	if err := c.writeFrame(replyFrame(statusOK, cfg.Name)); err != nil || l.ctx.Err() != nil {
		log.Info("tcp: dropped peer after hello", "remote", remote, "err", err)
		_ = c.Close()
		return
	}
	_ = raw.SetDeadline(time.Time{})
	l.queue <- c // never blocks: the queue holds MaxConns and c holds a slot
}

func (l *listener) reserve() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.active >= l.t.cfg.MaxConns {
		return false
	}
	l.active++
	return true
}

func (l *listener) release() {
	l.mu.Lock()
	l.active--
	l.mu.Unlock()
}

// Accept returns the next authenticated connection.
func (l *listener) Accept(ctx context.Context) (transport.Conn, error) {
	if l.ctx.Err() != nil {
		return nil, fmt.Errorf("tcp: accept on %s: %w", l.Addr(), transport.ErrClosed)
	}
	select {
	case c := <-l.queue:
		return c, nil
	case <-l.ctx.Done():
		return nil, fmt.Errorf("tcp: accept on %s: %w", l.Addr(), transport.ErrClosed)
	case <-ctx.Done():
		return nil, fmt.Errorf("tcp: accept on %s: %w", l.Addr(), ctx.Err())
	}
}

// Addr returns the bound address, with the port actually chosen.
func (l *listener) Addr() string { return l.ln.Addr().String() }

// Close stops listening, waits for the accept loop and the handshakes in
// progress to stop, and closes the connections not yet accepted. It is
// idempotent.
func (l *listener) Close() error {
	var err error
	l.closed.Do(func() {
		l.cancel()
		err = l.ln.Close()
		l.wg.Wait()
		for {
			select {
			case c := <-l.queue:
				_ = c.Close()
			default:
				return
			}
		}
	})
	if err != nil {
		return fmt.Errorf("tcp: close listener: %w", err)
	}
	return nil
}
