package transport

import (
	"context"
	"errors"
	"fmt"
	"io"
)

// DefaultChunkSize is the frame size NewWriter uses when given a chunk size
// of zero or less: large enough that per-frame costs vanish, far below
// MaxFrameSize.
const DefaultChunkSize = 1 << 20

// Writer turns a byte stream into frames on a Conn: every frame it sends
// carries at most its chunk size of data, and Close ends the stream with an
// empty frame (the end-of-stream marker). Data frames are never empty, so a
// Reader on the other side knows where the stream stops and the Conn can go
// on carrying other messages after it.
//
// A Writer is not safe for concurrent use. It does not close the Conn.
type Writer struct {
	ctx   context.Context
	conn  Conn
	buf   []byte // pending bytes, len ≤ chunk; allocated on first use
	chunk int
	err   error // sticky: the first Send error, or errWriterClosed
}

var errWriterClosed = fmt.Errorf("transport: stream writer: %w", ErrClosed)

// NewWriter returns a Writer sending frames of at most chunkSize bytes
// (DefaultChunkSize when chunkSize ≤ 0) on conn, with ctx for every Send.
// chunkSize must not exceed the connection's frame limit, or the first
// frame fails with ErrFrameTooLarge.
func NewWriter(ctx context.Context, conn Conn, chunkSize int) *Writer {
	if chunkSize <= 0 {
		chunkSize = DefaultChunkSize
	}
	return &Writer{ctx: ctx, conn: conn, chunk: chunkSize}
}

// Write buffers p and sends every full chunk. A write of at least a chunk
// while nothing is pending is sent straight from p, without a copy. After a
// failed Send, Write returns that error.
func (w *Writer) Write(p []byte) (int, error) {
	if w.err != nil {
		return 0, w.err
	}
	written := 0
	for len(p) > 0 {
		if len(w.buf) == 0 && len(p) >= w.chunk {
			if err := w.send(p[:w.chunk]); err != nil {
				return written, err
			}
			p = p[w.chunk:]
			written += w.chunk
			continue
		}
		if w.buf == nil {
			w.buf = make([]byte, 0, w.chunk)
		}
		n := min(w.chunk-len(w.buf), len(p))
		w.buf = append(w.buf, p[:n]...)
		p = p[n:]
		written += n
		if len(w.buf) == w.chunk {
			if err := w.Flush(); err != nil {
				return written, err
			}
		}
	}
	return written, nil
}

// ReadFrom reads r to its end into the Writer's own buffer, sending each
// full chunk; it implements io.ReaderFrom so io.Copy needs no extra buffer.
// The bytes of a final partial chunk stay pending until Flush or Close.
func (w *Writer) ReadFrom(r io.Reader) (int64, error) {
	if w.err != nil {
		return 0, w.err
	}
	if w.buf == nil {
		w.buf = make([]byte, 0, w.chunk)
	}
	var total int64
	for {
		n, err := r.Read(w.buf[len(w.buf):w.chunk])
		w.buf = w.buf[:len(w.buf)+n]
		total += int64(n)
		if len(w.buf) == w.chunk {
			if ferr := w.Flush(); ferr != nil {
				return total, ferr
			}
		}
		if errors.Is(err, io.EOF) {
			return total, nil
		}
		if err != nil {
			return total, err
		}
	}
}

// Flush sends the pending bytes, if any, as one frame. It does not end the
// stream.
func (w *Writer) Flush() error {
	if w.err != nil {
		return w.err
	}
	if len(w.buf) == 0 {
		return nil
	}
	err := w.send(w.buf)
	w.buf = w.buf[:0]
	return err
}

// Close flushes the pending bytes and sends the end-of-stream marker. It
// does not close the Conn. Later calls return an error wrapping ErrClosed.
func (w *Writer) Close() error {
	if err := w.Flush(); err != nil {
		return err
	}
	if err := w.send(nil); err != nil {
		return err
	}
	w.err = errWriterClosed
	return nil
}

func (w *Writer) send(p []byte) error {
	if err := w.conn.Send(w.ctx, p); err != nil {
		w.err = err
		return err
	}
	return nil
}

// Reader reads the frames of one stream written by a Writer as a byte
// stream. It returns io.EOF at the end-of-stream marker and leaves the
// frames after it on the Conn for the caller. A Conn that ends (the peer
// closed it) before the marker gives an error wrapping io.ErrUnexpectedEOF
// and ErrConnectionLost (temporary: the stream can be sent again).
//
// A Reader is not safe for concurrent use. It does not close the Conn.
type Reader struct {
	ctx   context.Context
	conn  Conn
	buf   []byte // storage reused for every frame
	frame []byte // unread rest of the current frame, inside buf
	err   error  // sticky: io.EOF at the marker, or the first Recv error
}

// NewReader returns a Reader of the next stream on conn, with ctx for every
// Recv.
func NewReader(ctx context.Context, conn Conn) *Reader {
	return &Reader{ctx: ctx, conn: conn}
}

// Read implements io.Reader.
func (r *Reader) Read(p []byte) (int, error) {
	if len(r.frame) == 0 {
		if err := r.next(); err != nil {
			return 0, err
		}
	}
	n := copy(p, r.frame)
	r.frame = r.frame[n:]
	return n, nil
}

// WriteTo writes the rest of the stream to w frame by frame, without an
// intermediate copy; it implements io.WriterTo so io.Copy uses it.
func (r *Reader) WriteTo(w io.Writer) (int64, error) {
	var total int64
	for {
		if len(r.frame) == 0 {
			if err := r.next(); err != nil {
				if errors.Is(err, io.EOF) {
					return total, nil
				}
				return total, err
			}
		}
		n, err := w.Write(r.frame)
		total += int64(n)
		r.frame = r.frame[n:]
		if err != nil {
			return total, err
		}
	}
}

// next receives the next frame into the reused buffer.
func (r *Reader) next() error {
	if r.err != nil {
		return r.err
	}
	f, err := r.conn.Recv(r.ctx, r.buf[:cap(r.buf)])
	if err != nil {
		if errors.Is(err, io.EOF) {
			err = fmt.Errorf("transport: stream ended without its end marker: %w: %w", ErrConnectionLost, io.ErrUnexpectedEOF)
		}
		r.err = err
		return err
	}
	if cap(f) > cap(r.buf) {
		r.buf = f[:0]
	}
	if len(f) == 0 {
		r.err = io.EOF
		return io.EOF
	}
	r.frame = f
	return nil
}
