package transport_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/blockrep/blockrep/transport"
	"github.com/blockrep/blockrep/transport/memory"
)

// pipe returns the two ends of an in-memory connection.
func pipe(t *testing.T) (a, b transport.Conn) {
	t.Helper()
	n, err := memory.NewNetwork(1)
	require.NoError(t, err)
	ctx := t.Context()
	l, err := n.Endpoint("b").Listen(ctx, "")
	require.NoError(t, err)
	defer l.Close()
	a, err = n.Endpoint("a").Dial(ctx, "b")
	require.NoError(t, err)
	b, err = l.Accept(ctx)
	require.NoError(t, err)
	t.Cleanup(func() { _ = a.Close(); _ = b.Close() })
	return a, b
}

// frames sends nothing and reads n frames from c.
func frames(t *testing.T, c transport.Conn, n int) []string {
	t.Helper()
	var out []string
	for range n {
		b, err := c.Recv(t.Context(), nil)
		require.NoError(t, err)
		out = append(out, string(b))
	}
	return out
}

func TestWriterChunks(t *testing.T) {
	a, b := pipe(t)
	w := transport.NewWriter(t.Context(), a, 4)
	n, err := w.Write([]byte("ab"))
	require.NoError(t, err)
	assert.Equal(t, 2, n)
	n, err = w.Write([]byte("cdefghij")) // fills the pending chunk, then one straight from p
	require.NoError(t, err)
	assert.Equal(t, 8, n)
	n, err = w.Write([]byte("klmnopq")) // completes "ijkl", sends "mnop" straight from p, keeps "q"
	require.NoError(t, err)
	assert.Equal(t, 7, n)
	require.NoError(t, w.Flush())
	require.NoError(t, w.Flush(), "flushing nothing sends nothing")
	require.NoError(t, w.Close())
	assert.Equal(t, []string{"abcd", "efgh", "ijkl", "mnop", "q", ""}, frames(t, b, 6))

	_, err = w.Write([]byte("late"))
	require.ErrorIs(t, err, transport.ErrClosed)
	require.ErrorIs(t, w.Close(), transport.ErrClosed)
	assert.False(t, b.(*memory.Conn).Readable(), "nothing is sent after Close")
}

func TestWriterReadFrom(t *testing.T) {
	a, b := pipe(t)
	w := transport.NewWriter(t.Context(), a, 4)
	n, err := io.Copy(w, io.MultiReader(strings.NewReader("abc"), strings.NewReader("defghij")))
	require.NoError(t, err)
	assert.Equal(t, int64(10), n)
	require.NoError(t, w.Close())
	assert.Equal(t, []string{"abcd", "efgh", "ij", ""}, frames(t, b, 4))
}

func TestWriterDefaultChunk(t *testing.T) {
	a, b := pipe(t)
	w := transport.NewWriter(t.Context(), a, 0)
	_, err := w.Write(make([]byte, transport.DefaultChunkSize+1))
	require.NoError(t, err)
	require.NoError(t, w.Close())
	got := frames(t, b, 3)
	assert.Len(t, got[0], transport.DefaultChunkSize)
	assert.Len(t, got[1], 1)
	assert.Empty(t, got[2])
}

func TestWriterStickyError(t *testing.T) {
	a, _ := pipe(t)
	w := transport.NewWriter(t.Context(), a, 4)
	require.NoError(t, a.Close())
	_, err := w.Write([]byte("abcdef"))
	require.ErrorIs(t, err, transport.ErrClosed)
	_, err = w.Write([]byte("x"))
	require.ErrorIs(t, err, transport.ErrClosed)
	_, err = w.ReadFrom(strings.NewReader("x"))
	require.ErrorIs(t, err, transport.ErrClosed)
	require.ErrorIs(t, w.Close(), transport.ErrClosed)
}

func TestWriterReadFromError(t *testing.T) {
	a, _ := pipe(t)
	boom := errors.New("source failed")
	w := transport.NewWriter(t.Context(), a, 4)
	_, err := w.ReadFrom(io.MultiReader(strings.NewReader("ab"), errReader{boom}))
	require.ErrorIs(t, err, boom)
}

type errReader struct{ err error }

func (r errReader) Read([]byte) (int, error) { return 0, r.err }

func TestReaderStreamThenFrames(t *testing.T) {
	a, b := pipe(t)
	ctx := t.Context()
	for _, f := range []string{"hel", "lo, ", "world", "", "after"} {
		require.NoError(t, a.Send(ctx, []byte(f)))
	}
	r := transport.NewReader(ctx, b)
	p := make([]byte, 4)
	var got []string
	for {
		n, err := r.Read(p)
		if err == io.EOF {
			break
		}
		require.NoError(t, err)
		got = append(got, string(p[:n]))
	}
	assert.Equal(t, []string{"hel", "lo, ", "worl", "d"}, got, "reads never cross a frame")
	n, err := r.Read(p)
	assert.Zero(t, n)
	assert.ErrorIs(t, err, io.EOF, "the end is sticky")
	assert.Equal(t, []string{"after"}, frames(t, b, 1), "frames after the marker stay on the Conn")
}

func TestReaderWriteTo(t *testing.T) {
	a, b := pipe(t)
	ctx := t.Context()
	data := bytes.Repeat([]byte("0123456789"), 1000)
	w := transport.NewWriter(ctx, a, 777)
	_, err := w.Write(data)
	require.NoError(t, err)
	require.NoError(t, w.Close())
	var out bytes.Buffer
	n, err := io.Copy(&out, transport.NewReader(ctx, b))
	require.NoError(t, err)
	assert.Equal(t, int64(len(data)), n)
	assert.Equal(t, data, out.Bytes())
}

func TestReaderWriteToError(t *testing.T) {
	a, b := pipe(t)
	ctx := t.Context()
	require.NoError(t, a.Send(ctx, []byte("data")))
	boom := errors.New("sink failed")
	_, err := transport.NewReader(ctx, b).WriteTo(failWriter{boom})
	require.ErrorIs(t, err, boom)
}

type failWriter struct{ err error }

func (w failWriter) Write([]byte) (int, error) { return 0, w.err }

func TestReaderPeerGoneMidStream(t *testing.T) {
	a, b := pipe(t)
	ctx := t.Context()
	require.NoError(t, a.Send(ctx, []byte("partial")))
	require.NoError(t, a.Close())
	got, err := io.ReadAll(transport.NewReader(ctx, b))
	require.ErrorIs(t, err, io.ErrUnexpectedEOF)
	assert.ErrorIs(t, err, transport.ErrConnectionLost)
	assert.True(t, transport.IsTemporary(err), "the stream can be sent again")
	assert.Equal(t, "partial", string(got))
}

func TestReaderCancelled(t *testing.T) {
	_, b := pipe(t)
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	_, err := transport.NewReader(ctx, b).Read(make([]byte, 1))
	require.ErrorIs(t, err, context.Canceled)
}
