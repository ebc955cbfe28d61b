package transport_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"syscall"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/blockrep/blockrep/transport"
)

// timeoutErr is a net.Error that timed out.
type timeoutErr struct{}

func (timeoutErr) Error() string   { return "i/o timeout" }
func (timeoutErr) Timeout() bool   { return true }
func (timeoutErr) Temporary() bool { return false }

func TestIsTemporary(t *testing.T) {
	wrap := func(errs ...any) error { // the way implementations wrap
		format := "op"
		for range errs {
			format += ": %w"
		}
		return fmt.Errorf(format, errs...)
	}
	tests := []struct {
		name string
		err  error
		want bool
	}{
		{"nil", nil, false},
		{"unreachable", wrap(transport.ErrUnreachable, syscall.ECONNREFUSED), true},
		{"connection lost", wrap(transport.ErrConnectionLost, syscall.ECONNRESET), true},
		{"cut inside a frame", wrap(transport.ErrConnectionLost, io.ErrUnexpectedEOF), true},
		{"too many connections", wrap(transport.ErrTooManyConnections), true},
		{"deadline exceeded", wrap(context.DeadlineExceeded), true},
		{"net timeout", wrap(&net.OpError{Op: "read", Err: timeoutErr{}}), true},
		{"os deadline", wrap(os.ErrDeadlineExceeded), true},
		{"unauthenticated", wrap(transport.ErrUnauthenticated), false},
		{"unauthorized", wrap(transport.ErrUnauthorized), false},
		{"unauthorized beats lost", wrap(transport.ErrUnauthorized, transport.ErrConnectionLost), false},
		{"unauthenticated beats timeout", wrap(transport.ErrUnauthenticated, context.DeadlineExceeded), false},
		{"frame too large", wrap(transport.ErrFrameTooLarge), false},
		{"closed", wrap(transport.ErrClosed), false},
		{"cancelled", wrap(context.Canceled), false},
		{"clean end", io.EOF, false},
		{"bare unexpected EOF", io.ErrUnexpectedEOF, false},
		{"other", errors.New("disk full"), false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			assert.Equal(t, tc.want, transport.IsTemporary(tc.err), "%v", tc.err)
		})
	}
}
