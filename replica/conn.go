package replica

import (
	"context"
	"fmt"

	"github.com/blockrep/blockrep/transport"
)

// sendMsg sends m as one frame.
func sendMsg(ctx context.Context, c transport.Conn, m message) error {
	return c.Send(ctx, appendMessage(make([]byte, 0, 64), m))
}

// recvMsg receives and decodes one message, reusing buf's storage. The
// returned buffer is the storage to pass to the next call.
func recvMsg(ctx context.Context, c transport.Conn, buf []byte) (message, []byte, error) {
	f, err := c.Recv(ctx, buf[:cap(buf)])
	if err != nil {
		return nil, buf, err
	}
	if cap(f) > cap(buf) && cap(f) <= 1<<20 {
		buf = f[:0]
	}
	m, err := decodeMessage(f)
	return m, buf, err
}

// expectReply receives the answer to a request: want's type, or a Nack
// turned into a *RemoteError.
func expectReply[T message](ctx context.Context, c transport.Conn, buf []byte) (T, []byte, error) {
	var zero T
	m, buf, err := recvMsg(ctx, c, buf)
	if err != nil {
		return zero, buf, err
	}
	switch m := m.(type) {
	case T:
		return m, buf, nil
	case nackMsg:
		return zero, buf, &RemoteError{Code: m.Code, Message: m.Message}
	}
	return zero, buf, fmt.Errorf("%w: got %s, want %s", ErrProtocol, m.kind(), zero.kind())
}
