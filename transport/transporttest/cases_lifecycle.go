package transporttest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sync/errgroup"

	"github.com/blockrep/blockrep/transport"
)

// The subtests about a connection's life: many at once, cancellation,
// closing from either side, identities and the frame limit.

func testConcurrentConnections(t *testing.T, p Pair) {
	// A failing client cancels ctx, so the server does not wait forever
	// for a connection that will not come.
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
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
		clients.Go(func() (err error) {
			defer func() {
				if err != nil {
					cancel()
				}
			}()
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
	// Cancel once a frame went through: Send is then blocked on full
	// buffers or about to be called again; either way it must end with
	// ctx's error. Waiting for more frames could hang on a transport whose
	// buffers hold only one; a Send that fails on its own (an idle
	// timeout) fails the test instead of hanging it.
	select {
	case <-sent:
	case err := <-errc:
		require.NoError(t, err, "Send failed before it was cancelled")
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

// sendUntilError sends 256 KiB frames on c until a Send fails, and
// reports the first success on sent and the failure on the returned
// channel. Nobody reads: Send ends up blocked on full buffers.
func sendUntilError(ctx context.Context, c transport.Conn) (sent <-chan struct{}, errc <-chan error) {
	first := make(chan struct{})
	done := make(chan error, 1)
	go func() {
		msg := make([]byte, 256<<10)
		for i := 0; ; i++ {
			if err := c.Send(ctx, msg); err != nil {
				done <- err
				return
			}
			if i == 0 {
				close(first)
			}
		}
	}()
	return first, done
}

func testCloseUnblocksSend(t *testing.T, p Pair) {
	dialed, _, _ := Connect(t, p)
	sent, errc := sendUntilError(t.Context(), dialed)
	select {
	case <-sent:
	case err := <-errc:
		require.NoError(t, err, "Send failed before Close")
	}
	require.NoError(t, dialed.Close())
	require.ErrorIs(t, <-errc, transport.ErrClosed, "a Send blocked or started after Close")
}

func testPeerCloseUnblocksSend(t *testing.T, p Pair) {
	dialed, accepted, _ := Connect(t, p)
	sent, errc := sendUntilError(t.Context(), dialed)
	select {
	case <-sent:
	case err := <-errc:
		require.NoError(t, err, "Send failed before the peer closed")
	}
	require.NoError(t, accepted.Close())
	err := <-errc
	require.ErrorIs(t, err, transport.ErrConnectionLost, "the peer closed without reading")
	assert.True(t, transport.IsTemporary(err))
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
