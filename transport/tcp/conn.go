package tcp

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/blockrep/blockrep/transport"
)

// Wire format: every frame is its length as an unsigned varint followed by
// that many bytes. The length is checked against the limit before anything
// is allocated, and storage for a frame grows only as its bytes arrive, so
// a peer that announces a large frame and sends nothing costs nothing.
const (
	ioBufferSize = 64 << 10
	firstGrowth  = 64 << 10
)

// past is a deadline that has already expired; setting it aborts a
// blocked read or write.
var past = time.Unix(1, 0)

// conn is one framed connection over TLS or plain TCP.
type conn struct {
	nc            net.Conn      // the TLS (or plain) connection frames travel on
	raw           net.Conn      // the TCP connection underneath: deadlines and close
	sock          *bufferedConn // between TLS and raw; nil on insecure links
	br            *bufio.Reader
	bw            *bufio.Writer
	limit         int
	idle          time.Duration
	peer          transport.Identity
	local, remote string
	hdr           [binary.MaxVarintLen64]byte

	closed    atomic.Bool
	closeOnce sync.Once
	onClose   func() // releases the listener's slot; nil for dialed conns
}

var (
	_ transport.Conn    = (*conn)(nil)
	_ transport.TLSConn = (*conn)(nil)
)

func newConn(nc, raw net.Conn, limit int, idle time.Duration) *conn {
	return &conn{
		nc: nc, raw: raw,
		br:    bufio.NewReaderSize(nc, ioBufferSize),
		bw:    bufio.NewWriterSize(nc, ioBufferSize),
		limit: limit, idle: idle,
		local: raw.LocalAddr().String(), remote: raw.RemoteAddr().String(),
	}
}

// Send writes msg as one frame.
func (c *conn) Send(ctx context.Context, msg []byte) error {
	if c.closed.Load() {
		return fmt.Errorf("tcp: send to %s: %w", c.remote, transport.ErrClosed)
	}
	if len(msg) > c.limit {
		return fmt.Errorf("tcp: send to %s: %d bytes over the limit of %d: %w", c.remote, len(msg), c.limit, transport.ErrFrameTooLarge)
	}
	if err := ctx.Err(); err != nil {
		_ = c.Close()
		return fmt.Errorf("tcp: send to %s: %w", c.remote, err)
	}
	_ = c.raw.SetWriteDeadline(c.deadline())
	stop := watch(ctx, c.raw.SetWriteDeadline)
	err := c.writeFrame(msg)
	if stop != nil && !stop() {
		_ = c.Close()
		return fmt.Errorf("tcp: send to %s: %w", c.remote, ctx.Err())
	}
	if err != nil {
		return c.fail("send to", err)
	}
	return nil
}

func (c *conn) writeFrame(msg []byte) (err error) {
	if c.sock != nil {
		c.sock.cork()
		defer func() {
			if uerr := c.sock.uncork(); err == nil {
				err = uerr
			}
		}()
	}
	n := binary.PutUvarint(c.hdr[:], uint64(len(msg)))
	if _, err := c.bw.Write(c.hdr[:n]); err != nil {
		return err
	}
	if _, err := c.bw.Write(msg); err != nil {
		return err
	}
	return c.bw.Flush()
}

// Recv reads the next frame.
func (c *conn) Recv(ctx context.Context, buf []byte) ([]byte, error) {
	if c.closed.Load() {
		return nil, fmt.Errorf("tcp: recv from %s: %w", c.remote, transport.ErrClosed)
	}
	if err := ctx.Err(); err != nil {
		_ = c.Close()
		return nil, fmt.Errorf("tcp: recv from %s: %w", c.remote, err)
	}
	_ = c.raw.SetReadDeadline(c.deadline())
	stop := watch(ctx, c.raw.SetReadDeadline)
	b, err := c.readFrame(buf, c.limit)
	if stop != nil && !stop() {
		_ = c.Close()
		return nil, fmt.Errorf("tcp: recv from %s: %w", c.remote, ctx.Err())
	}
	if err != nil {
		return nil, c.fail("recv from", err)
	}
	return b, nil
}

// errBadLength reports a length prefix that is not a valid uvarint.
var errBadLength = errors.New("malformed frame length")

// readFrame reads one frame of at most limit bytes, into buf's storage
// when it fits.
func (c *conn) readFrame(buf []byte, limit int) ([]byte, error) {
	n, err := readLength(c.br)
	if errors.Is(err, errBadLength) {
		return nil, fmt.Errorf("%w: %w", errBadLength, transport.ErrFrameTooLarge)
	}
	if err != nil {
		return nil, err
	}
	if n > uint64(limit) {
		return nil, fmt.Errorf("peer announced %d bytes, over the limit of %d: %w", n, limit, transport.ErrFrameTooLarge)
	}
	size := int(n)
	if cap(buf) >= size {
		buf = buf[:size]
		if _, err := io.ReadFull(c.br, buf); err != nil {
			return nil, midFrame(err)
		}
		return buf, nil
	}
	buf = make([]byte, 0, min(size, firstGrowth))
	for len(buf) < size {
		if len(buf) == cap(buf) {
			grown := make([]byte, len(buf), min(2*cap(buf), size))
			copy(grown, buf)
			buf = grown
		}
		m, err := io.ReadFull(c.br, buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+m]
		if err != nil {
			return nil, midFrame(err)
		}
	}
	return buf, nil
}

// readLength reads a frame's length prefix: a uvarint of at most ten
// bytes that fits in 64 bits, else errBadLength. An end of stream before
// the first byte is io.EOF, after it io.ErrUnexpectedEOF.
func readLength(br *bufio.Reader) (uint64, error) {
	var x uint64
	for i := range binary.MaxVarintLen64 {
		b, err := br.ReadByte()
		if err != nil {
			if i > 0 {
				return 0, midFrame(err)
			}
			return 0, err
		}
		if b < 0x80 {
			if i == binary.MaxVarintLen64-1 && b > 1 {
				return 0, errBadLength // more than 64 bits
			}
			return x | uint64(b)<<(7*i), nil
		}
		x |= uint64(b&0x7f) << (7 * i)
	}
	return 0, errBadLength
}

// midFrame turns an end of stream inside a frame into io.ErrUnexpectedEOF.
func midFrame(err error) error {
	if errors.Is(err, io.EOF) {
		return io.ErrUnexpectedEOF
	}
	return err
}

// fail classifies an I/O error, closing the connection unless the peer
// closed it cleanly between frames.
func (c *conn) fail(op string, err error) error {
	if c.closed.Load() {
		return fmt.Errorf("tcp: %s %s: %w", op, c.remote, transport.ErrClosed)
	}
	if errors.Is(err, io.EOF) {
		return io.EOF
	}
	_ = c.Close()
	switch {
	case errors.Is(err, transport.ErrFrameTooLarge):
		return fmt.Errorf("tcp: %s %s: %w", op, c.remote, err)
	case errors.Is(err, io.ErrUnexpectedEOF):
		// Cut inside a frame: lost, and retryable on a new connection.
		return fmt.Errorf("tcp: %s %s: connection ended inside a frame: %w: %w", op, c.remote, transport.ErrConnectionLost, err)
	case errors.Is(err, os.ErrDeadlineExceeded):
		return fmt.Errorf("tcp: %s %s: peer silent for %v: %w", op, c.remote, c.idle, transport.ErrConnectionLost)
	}
	return fmt.Errorf("tcp: %s %s: %w: %w", op, c.remote, transport.ErrConnectionLost, err)
}

// deadline is when a Send or Recv starting now gives up on a silent peer.
func (c *conn) deadline() time.Time {
	if c.idle <= 0 {
		return time.Time{}
	}
	return time.Now().Add(c.idle)
}

// watch arranges for set(past) to run when ctx is done, aborting the I/O
// in progress; it returns nil for a context that is never done. The
// returned stop reports false when the abort already happened.
func watch(ctx context.Context, set func(time.Time) error) func() bool {
	if ctx.Done() == nil {
		return nil
	}
	return context.AfterFunc(ctx, func() { _ = set(past) })
}

// TLSState returns the state of the TLS connection, and false on an
// insecure link; it implements transport.TLSConn.
func (c *conn) TLSState() (tls.ConnectionState, bool) {
	tc, ok := c.nc.(*tls.Conn)
	if !ok {
		return tls.ConnectionState{}, false
	}
	return tc.ConnectionState(), true
}

// Peer returns the identity established by the handshake.
func (c *conn) Peer() transport.Identity { return c.peer }

// LocalAddr returns the local TCP address.
func (c *conn) LocalAddr() string { return c.local }

// RemoteAddr returns the peer's TCP address.
func (c *conn) RemoteAddr() string { return c.remote }

// Close closes the TCP connection at once, without a TLS close_notify
// (which could block on a peer that does not read): the peer sees io.EOF
// between frames. It is idempotent.
func (c *conn) Close() error {
	c.closeOnce.Do(func() {
		c.closed.Store(true)
		_ = c.raw.Close()
		if c.onClose != nil {
			c.onClose()
		}
	})
	return nil
}
