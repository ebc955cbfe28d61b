package transporttest

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"runtime"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sync/errgroup"

	"github.com/blockrep/blockrep/transport"
)

// The subtests about what a connection carries: order, boundaries,
// buffers, both directions, streams and large transfers.

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
	// A failure on one side cancels the other three loops, which would
	// otherwise wait for frames that never come.
	g, ctx := errgroup.WithContext(t.Context())
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
