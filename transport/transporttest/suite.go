package transporttest

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"runtime"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
	"golang.org/x/sync/errgroup"

	"github.com/blockrep/blockrep/transport"
)

// Pair is what the suite needs from an implementation: two transports that
// can reach each other, where to listen, and the identities each side must
// see of the other.
type Pair struct {
	// Dialer dials; Listener listens at ListenAddr.
	Dialer, Listener transport.Transport
	ListenAddr       string

	// DialerName is the Identity.Name the accepted side must see;
	// ListenerName the one the dialing side must see.
	DialerName, ListenerName string

	// FrameLimit is the frame limit both sides are configured with; zero
	// means transport.MaxFrameSize.
	FrameLimit int

	// Insecure says the transports do not authenticate peers: the suite
	// then expects Identity.Authenticated to be false.
	Insecure bool
}

// HeapGrowthLimit bounds how far the heap in use may grow above its level
// before the large transfer, measured while it runs.
const HeapGrowthLimit = 64 << 20

// Run runs the conformance suite: every implementation of
// transport.Transport must pass it. newPair is called once per subtest and
// must give fresh transports; the subtests run one after another and each
// checks that it leaves no goroutine behind.
func Run(t *testing.T, newPair func(t *testing.T) Pair) {
	tests := []struct {
		name string
		fn   func(t *testing.T, p Pair)
	}{
		{"Ordering", testOrdering},
		{"FrameBoundaries", testFrameBoundaries},
		{"RecvBuffer", testRecvBuffer},
		{"Bidirectional", testBidirectional},
		{"StreamThenMessages", testStreamThenMessages},
		{"LargeTransfer", testLargeTransfer},
		{"ConcurrentConnections", testConcurrentConnections},
		{"CancelDial", testCancelDial},
		{"CancelAccept", testCancelAccept},
		{"CancelSend", testCancelSend},
		{"CancelRecv", testCancelRecv},
		{"CloseByDialer", testCloseByDialer},
		{"CloseByListener", testCloseByListener},
		{"CloseUnblocksLocal", testCloseUnblocksLocal},
		{"ListenerClose", testListenerClose},
		{"PeerIdentity", testPeerIdentity},
		{"FrameTooLarge", testFrameTooLarge},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ignore := goleak.IgnoreCurrent()
			t.Cleanup(func() { goleak.VerifyNone(t, ignore) }) // registered first, runs last
			p := newPair(t)
			if p.FrameLimit == 0 {
				p.FrameLimit = transport.MaxFrameSize
			}
			tc.fn(t, p)
		})
	}
}

// Connect listens on p.Listener, dials it from p.Dialer and returns both
// ends, the listener and a cleanup registered with t that closes them.
func Connect(t *testing.T, p Pair) (dialed, accepted transport.Conn, l transport.Listener) {
	t.Helper()
	ctx := t.Context()
	l, err := p.Listener.Listen(ctx, p.ListenAddr)
	require.NoError(t, err)
	t.Cleanup(func() { _ = l.Close() })
	dialed, accepted = Dial(t, p.Dialer, l)
	return dialed, accepted, l
}

// Dial dials l from d and accepts the connection; both ends are closed by
// a cleanup registered with t.
func Dial(t *testing.T, d transport.Transport, l transport.Listener) (dialed, accepted transport.Conn) {
	t.Helper()
	ctx := t.Context()
	type result struct {
		c   transport.Conn
		err error
	}
	acc := make(chan result, 1)
	go func() {
		c, err := l.Accept(ctx)
		acc <- result{c, err}
	}()
	dialed, err := d.Dial(ctx, l.Addr())
	if err != nil {
		_ = l.Close() // unblocks the Accept above
		<-acc
		require.NoError(t, err, "dial")
	}
	t.Cleanup(func() { _ = dialed.Close() })
	r := <-acc
	require.NoError(t, r.err, "accept")
	t.Cleanup(func() { _ = r.c.Close() })
	return dialed, r.c
}

func testOrdering(t *testing.T, p Pair) {
	dialed, accepted, _ := Connect(t, p)
	ctx := t.Context()
	const n = 1000
	var g errgroup.Group
	g.Go(func() error {
		var msg [8]byte
		for i := range n {
			binary.BigEndian.PutUint64(msg[:], uint64(i))
			if err := dialed.Send(ctx, msg[:]); err != nil {
				return err
			}
		}
		return nil
	})
	buf := make([]byte, 0, 64)
	for i := range n {
		b, err := accepted.Recv(ctx, buf)
		require.NoError(t, err)
		require.Len(t, b, 8)
		require.Equal(t, uint64(i), binary.BigEndian.Uint64(b), "frame %d out of order", i)
	}
	require.NoError(t, g.Wait())
}

func testFrameBoundaries(t *testing.T, p Pair) {
	dialed, accepted, _ := Connect(t, p)
	ctx := t.Context()
	sizes := []int{0, 1, 2, 7, 0, 127, 128, 255, 256, 16383, 16384, 16385, 65536, 1 << 20, 0, 3, p.FrameLimit}
	var g errgroup.Group
	g.Go(func() error {
		for i, n := range sizes {
			msg := bytes.Repeat([]byte{byte(i + 1)}, n)
			if err := dialed.Send(ctx, msg); err != nil {
				return err
			}
		}
		return nil
	})
	for i, n := range sizes {
		b, err := accepted.Recv(ctx, nil)
		require.NoError(t, err)
		require.Len(t, b, n, "frame %d", i)
		assert.True(t, bytes.Equal(bytes.Repeat([]byte{byte(i + 1)}, n), b), "frame %d differs", i)
	}
	require.NoError(t, g.Wait())
}

func testRecvBuffer(t *testing.T, p Pair) {
	dialed, accepted, _ := Connect(t, p)
	ctx := t.Context()
	require.NoError(t, dialed.Send(ctx, []byte("fits")))
	require.NoError(t, dialed.Send(ctx, []byte("does not fit")))

	buf := make([]byte, 3, 8)
	b, err := accepted.Recv(ctx, buf)
	require.NoError(t, err)
	assert.Equal(t, "fits", string(b))
	assert.Same(t, &buf[:1][0], &b[0], "a frame that fits must land in buf's storage")

	b, err = accepted.Recv(ctx, buf)
	require.NoError(t, err)
	assert.Equal(t, "does not fit", string(b))
	assert.Equal(t, "fits", string(buf[:4]), "buf must not be touched by a frame that does not fit")
}

func testBidirectional(t *testing.T, p Pair) {
	dialed, accepted, _ := Connect(t, p)
	ctx := t.Context()
	const n = 200
	msg := func(from string, i int) []byte {
		return fmt.Appendf(bytes.Repeat([]byte{'.'}, 40000), "%s %d", from, i)
	}
	exchange := func(c transport.Conn, me, them string) func() error {
		return func() error {
			var g errgroup.Group
			g.Go(func() error {
				for i := range n {
					if err := c.Send(ctx, msg(me, i)); err != nil {
						return err
					}
				}
				return nil
			})
			g.Go(func() error {
				var buf []byte
				for i := range n {
					b, err := c.Recv(ctx, buf)
					if err != nil {
						return err
					}
					if !bytes.Equal(b, msg(them, i)) {
						return fmt.Errorf("%s: frame %d from %s differs", me, i, them)
					}
					buf = b
				}
				return nil
			})
			return g.Wait()
		}
	}
	var g errgroup.Group
	g.Go(exchange(dialed, "dialer", "listener"))
	g.Go(exchange(accepted, "listener", "dialer"))
	require.NoError(t, g.Wait())
}

func testStreamThenMessages(t *testing.T, p Pair) {
	dialed, accepted, _ := Connect(t, p)
	ctx := t.Context()
	data := make([]byte, 3<<20+40) // not a multiple of the chunk size
	Fill(data[:len(data)&^7], 0)
	var g errgroup.Group
	g.Go(func() error {
		if err := dialed.Send(ctx, []byte("header")); err != nil {
			return err
		}
		w := transport.NewWriter(ctx, dialed, 1<<20)
		// Odd write sizes exercise buffering across chunk boundaries.
		for rest := data; len(rest) > 0; {
			n := min(len(rest), 333333)
			if _, err := w.Write(rest[:n]); err != nil {
				return err
			}
			rest = rest[n:]
		}
		if err := w.Close(); err != nil {
			return err
		}
		// An empty stream, then a trailer on the same connection.
		if err := transport.NewWriter(ctx, dialed, 0).Close(); err != nil {
			return err
		}
		return dialed.Send(ctx, []byte("trailer"))
	})
	b, err := accepted.Recv(ctx, nil)
	require.NoError(t, err)
	require.Equal(t, "header", string(b))
	got, err := io.ReadAll(transport.NewReader(ctx, accepted))
	require.NoError(t, err)
	require.True(t, bytes.Equal(data, got), "stream differs: got %d bytes, want %d", len(got), len(data))
	n, err := io.Copy(io.Discard, transport.NewReader(ctx, accepted))
	require.NoError(t, err)
	assert.Zero(t, n)
	b, err = accepted.Recv(ctx, nil)
	require.NoError(t, err)
	assert.Equal(t, "trailer", string(b))
	require.NoError(t, g.Wait())
}

func testLargeTransfer(t *testing.T, p Pair) {
	dialed, accepted, _ := Connect(t, p)
	ctx := t.Context()
	size := int64(LargeTransfer)
	if testing.Short() {
		size = 64 << 20
	}
	const chunk = 1 << 20

	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	base := ms.HeapInuse

	var g errgroup.Group
	g.Go(func() error {
		buf := make([]byte, chunk)
		w := transport.NewWriter(ctx, dialed, chunk)
		for off := int64(0); off < size; off += chunk {
			Fill(buf, off)
			if _, err := w.Write(buf); err != nil {
				return err
			}
		}
		if err := w.Close(); err != nil {
			return err
		}
		ack, err := dialed.Recv(ctx, nil)
		if err != nil {
			return err
		}
		if string(ack) != "ok" {
			return fmt.Errorf("ack %q", ack)
		}
		return nil
	})

	r := transport.NewReader(ctx, accepted)
	got := make([]byte, chunk)
	want := make([]byte, chunk)
	var peak uint64
	for off := int64(0); off < size; off += chunk {
		_, err := io.ReadFull(r, got)
		require.NoError(t, err, "at offset %d", off)
		Fill(want, off)
		if !bytes.Equal(got, want) {
			require.Failf(t, "stream differs", "in the chunk at offset %d", off)
		}
		if off%(64<<20) == 0 {
			runtime.ReadMemStats(&ms)
			peak = max(peak, ms.HeapInuse)
		}
	}
	n, err := r.Read(got)
	assert.Zero(t, n)
	require.ErrorIs(t, err, io.EOF, "the stream must end exactly after %d bytes", size)
	require.NoError(t, accepted.Send(ctx, []byte("ok")))
	require.NoError(t, g.Wait())
	growth := int64(peak) - int64(base)
	t.Logf("streamed %d MiB; heap in use grew by at most %d KiB", size>>20, growth>>10)
	assert.Less(t, growth, int64(HeapGrowthLimit), "memory must stay bounded during a large transfer")
}

func testConcurrentConnections(t *testing.T, p Pair) {
	ctx := t.Context()
	l, err := p.Listener.Listen(ctx, p.ListenAddr)
	require.NoError(t, err)
	t.Cleanup(func() { _ = l.Close() })
	const conns, frames = 8, 50

	var server errgroup.Group
	server.Go(func() error {
		var echo errgroup.Group
		for range conns {
			c, err := l.Accept(ctx)
			if err != nil {
				return err
			}
			echo.Go(func() error {
				defer c.Close()
				var buf []byte
				for {
					b, err := c.Recv(ctx, buf)
					if errors.Is(err, io.EOF) {
						return nil
					}
					if err != nil {
						return err
					}
					if err := c.Send(ctx, b); err != nil {
						return err
					}
					buf = b
				}
			})
		}
		return echo.Wait()
	})

	var clients errgroup.Group
	for i := range conns {
		clients.Go(func() error {
			c, err := p.Dialer.Dial(ctx, l.Addr())
			if err != nil {
				return err
			}
			defer c.Close()
			for j := range frames {
				msg := fmt.Appendf(nil, "conn %d frame %d", i, j)
				if err := c.Send(ctx, msg); err != nil {
					return err
				}
				b, err := c.Recv(ctx, nil)
				if err != nil {
					return err
				}
				if !bytes.Equal(b, msg) {
					return fmt.Errorf("conn %d: echo %q, want %q", i, b, msg)
				}
			}
			return nil
		})
	}
	require.NoError(t, clients.Wait())
	require.NoError(t, server.Wait())
}

func testCancelDial(t *testing.T, p Pair) {
	l, err := p.Listener.Listen(t.Context(), p.ListenAddr)
	require.NoError(t, err)
	t.Cleanup(func() { _ = l.Close() })
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	c, err := p.Dialer.Dial(ctx, l.Addr())
	require.ErrorIs(t, err, context.Canceled)
	assert.Nil(t, c)
}

func testCancelAccept(t *testing.T, p Pair) {
	l, err := p.Listener.Listen(t.Context(), p.ListenAddr)
	require.NoError(t, err)
	t.Cleanup(func() { _ = l.Close() })
	ctx, cancel := context.WithCancel(t.Context())
	errc := make(chan error, 1)
	go func() {
		_, err := l.Accept(ctx)
		errc <- err
	}()
	cancel()
	require.ErrorIs(t, <-errc, context.Canceled)
	// The listener survives a cancelled Accept.
	dialed, accepted := Dial(t, p.Dialer, l)
	require.NoError(t, dialed.Send(t.Context(), []byte("still listening")))
	b, err := accepted.Recv(t.Context(), nil)
	require.NoError(t, err)
	assert.Equal(t, "still listening", string(b))
}

func testCancelSend(t *testing.T, p Pair) {
	dialed, accepted, _ := Connect(t, p)
	ctx, cancel := context.WithCancel(t.Context())
	sent := make(chan struct{}, 1024)
	errc := make(chan error, 1)
	go func() {
		// Nobody reads: Send blocks once the buffers between are full.
		msg := make([]byte, 256<<10)
		for {
			if err := dialed.Send(ctx, msg); err != nil {
				errc <- err
				return
			}
			select {
			case sent <- struct{}{}:
			default:
			}
		}
	}()
	for range 4 {
		<-sent
	}
	cancel()
	err := <-errc
	require.ErrorIs(t, err, context.Canceled)
	assert.False(t, errors.Is(err, transport.ErrClosed))
	require.ErrorIs(t, dialed.Send(t.Context(), []byte("x")), transport.ErrClosed, "a cancelled Send closes the connection")
	drainToError(t, accepted)
}

func testCancelRecv(t *testing.T, p Pair) {
	dialed, accepted, _ := Connect(t, p)
	ctx, cancel := context.WithCancel(t.Context())
	errc := make(chan error, 1)
	go func() {
		_, err := accepted.Recv(ctx, nil)
		errc <- err
	}()
	cancel()
	require.ErrorIs(t, <-errc, context.Canceled)
	_, err := accepted.Recv(t.Context(), nil)
	require.ErrorIs(t, err, transport.ErrClosed, "a cancelled Recv closes the connection")
	_, err = dialed.Recv(t.Context(), nil)
	require.Error(t, err)
	assert.True(t, errors.Is(err, io.EOF) || errors.Is(err, transport.ErrConnectionLost), "peer of a closed connection: %v", err)
}

// drainToError reads c until it fails and checks the failure is one a
// peer's close may cause.
func drainToError(t *testing.T, c transport.Conn) {
	t.Helper()
	var buf []byte
	for {
		b, err := c.Recv(t.Context(), buf)
		if err != nil {
			assert.True(t, errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, transport.ErrConnectionLost),
				"peer of a closed connection: %v", err)
			return
		}
		buf = b
	}
}

func testCloseByDialer(t *testing.T, p Pair) {
	dialed, accepted, _ := Connect(t, p)
	ctx := t.Context()
	for i := range 3 {
		require.NoError(t, dialed.Send(ctx, []byte{byte(i)}))
	}
	require.NoError(t, dialed.Close())
	require.NoError(t, dialed.Close(), "Close is idempotent")
	for i := range 3 {
		b, err := accepted.Recv(ctx, nil)
		require.NoError(t, err, "frames sent before Close are delivered")
		assert.Equal(t, []byte{byte(i)}, b)
	}
	_, err := accepted.Recv(ctx, nil)
	require.ErrorIs(t, err, io.EOF)
	require.ErrorIs(t, dialed.Send(ctx, []byte("late")), transport.ErrClosed)
	_, err = dialed.Recv(ctx, nil)
	require.ErrorIs(t, err, transport.ErrClosed)

	// The accepted side's sends fail once the peer is gone.
	msg := make([]byte, 64<<10)
	for i := 0; ; i++ {
		err := accepted.Send(ctx, msg)
		if err != nil {
			require.ErrorIs(t, err, transport.ErrConnectionLost)
			assert.True(t, transport.IsTemporary(err))
			break
		}
		require.Less(t, i, 10000, "Send to a closed peer never failed")
	}
}

func testCloseByListener(t *testing.T, p Pair) {
	dialed, accepted, _ := Connect(t, p)
	errc := make(chan error, 1)
	go func() {
		_, err := dialed.Recv(t.Context(), nil)
		errc <- err
	}()
	require.NoError(t, accepted.Close())
	require.ErrorIs(t, <-errc, io.EOF)
}

func testCloseUnblocksLocal(t *testing.T, p Pair) {
	dialed, _, _ := Connect(t, p)
	errc := make(chan error, 1)
	go func() {
		_, err := dialed.Recv(t.Context(), nil)
		errc <- err
	}()
	require.NoError(t, dialed.Close())
	require.ErrorIs(t, <-errc, transport.ErrClosed)
}

func testListenerClose(t *testing.T, p Pair) {
	ctx := t.Context()
	l, err := p.Listener.Listen(ctx, p.ListenAddr)
	require.NoError(t, err)
	addr := l.Addr()
	errc := make(chan error, 1)
	go func() {
		_, err := l.Accept(ctx)
		errc <- err
	}()
	require.NoError(t, l.Close())
	require.NoError(t, l.Close(), "Close is idempotent")
	require.ErrorIs(t, <-errc, transport.ErrClosed)
	_, err = l.Accept(ctx)
	require.ErrorIs(t, err, transport.ErrClosed)
	_, err = p.Dialer.Dial(ctx, addr)
	require.ErrorIs(t, err, transport.ErrUnreachable)
	assert.True(t, transport.IsTemporary(err))
}

func testPeerIdentity(t *testing.T, p Pair) {
	dialed, accepted, _ := Connect(t, p)
	assert.Equal(t, p.ListenerName, dialed.Peer().Name)
	assert.Equal(t, !p.Insecure, dialed.Peer().Authenticated)
	assert.Equal(t, p.DialerName, accepted.Peer().Name)
	assert.Equal(t, !p.Insecure, accepted.Peer().Authenticated)
	assert.NotEmpty(t, dialed.LocalAddr())
	assert.NotEmpty(t, dialed.RemoteAddr())
	assert.NotEmpty(t, accepted.LocalAddr())
	assert.NotEmpty(t, accepted.RemoteAddr())
}

func testFrameTooLarge(t *testing.T, p Pair) {
	dialed, accepted, _ := Connect(t, p)
	ctx := t.Context()
	big := make([]byte, p.FrameLimit+1)
	err := dialed.Send(ctx, big)
	require.ErrorIs(t, err, transport.ErrFrameTooLarge)
	assert.False(t, transport.IsTemporary(err))
	// Nothing was sent: the next frame is the first the peer sees, and a
	// frame of exactly the limit passes.
	require.NoError(t, dialed.Send(ctx, []byte("after")))
	big[0], big[len(big)-2] = 1, 2
	var g errgroup.Group
	g.Go(func() error { return dialed.Send(ctx, big[:p.FrameLimit]) })
	b, err := accepted.Recv(ctx, nil)
	require.NoError(t, err)
	assert.Equal(t, "after", string(b))
	b, err = accepted.Recv(ctx, nil)
	require.NoError(t, err)
	require.Len(t, b, p.FrameLimit)
	assert.True(t, bytes.Equal(big[:p.FrameLimit], b))
	require.NoError(t, g.Wait())
}
