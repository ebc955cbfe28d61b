package tcp

import (
	"bufio"
	"net"
	"sync"
)

// socketBufferSize is the buffering between TLS and the socket in each
// direction.
const socketBufferSize = 128 << 10

// bufferedConn sits between TLS and the TCP socket. TLS writes every
// 16 KiB record with its own write and reads a record or so at a time;
// batching those into large socket reads and writes cuts the system calls
// per MiB from about 64 to 8 each way, which is most of the cost of TLS
// over plain TCP on loopback.
//
// Writes pass straight through unless a Send has corked the connection;
// then they gather until the buffer fills or the Send uncorks. The mutex
// matters because TLS may write from the reading side too (a key update).
type bufferedConn struct {
	net.Conn
	r *bufio.Reader

	mu     sync.Mutex
	corked bool
	wbuf   []byte
	werr   error // sticky: a failed flush leaves the TLS stream unusable
}

func newBufferedConn(c net.Conn) *bufferedConn {
	return &bufferedConn{Conn: c, r: bufio.NewReaderSize(c, socketBufferSize)}
}

func (b *bufferedConn) Read(p []byte) (int, error) { return b.r.Read(p) }

func (b *bufferedConn) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.werr != nil {
		return 0, b.werr
	}
	if !b.corked {
		return b.Conn.Write(p)
	}
	if len(b.wbuf)+len(p) > cap(b.wbuf) {
		if err := b.flushLocked(); err != nil {
			return 0, err
		}
		if len(p) > cap(b.wbuf) {
			return b.Conn.Write(p)
		}
	}
	b.wbuf = append(b.wbuf, p...)
	return len(p), nil
}

// cork starts gathering writes.
func (b *bufferedConn) cork() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.corked = true
	if b.wbuf == nil {
		b.wbuf = make([]byte, 0, socketBufferSize)
	}
}

// uncork writes what was gathered and lets writes pass straight through
// again.
func (b *bufferedConn) uncork() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.corked = false
	if b.werr != nil {
		return b.werr
	}
	return b.flushLocked()
}

func (b *bufferedConn) flushLocked() error {
	if len(b.wbuf) == 0 {
		return nil
	}
	_, err := b.Conn.Write(b.wbuf)
	b.wbuf = b.wbuf[:0]
	if err != nil {
		b.werr = err
	}
	return err
}
