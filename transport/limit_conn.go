package transport

import (
	"context"
	"time"

	"golang.org/x/time/rate"
)

// waitLimiters waits until n bytes may pass both a and b (either may be
// nil). Each piece of at most the smaller burst is reserved on both at the
// same instant and waited for once, for the longer of the two delays.
func waitLimiters(ctx context.Context, n int, a, b *Limiter) error {
	clock := LimiterClock(systemClock{})
	switch {
	case a != nil:
		clock = a.clock
	case b != nil:
		clock = b.clock
	default:
		return nil
	}
	for n > 0 {
		if err := ctx.Err(); err != nil {
			return err
		}
		piece := n
		if a != nil {
			piece = a.chunk(piece)
		}
		if b != nil {
			piece = b.chunk(piece)
		}
		now := clock.Now()
		var (
			ra, rb     *rate.Reservation
			wakeA      <-chan struct{}
			wakeB      <-chan struct{}
			okA, okB   = true, true
			delay      time.Duration
			cancelBoth = func(at time.Time) {
				if ra != nil {
					ra.CancelAt(at)
				}
				if rb != nil {
					rb.CancelAt(at)
				}
			}
		)
		if a != nil {
			ra, wakeA, okA = a.reserve(now, piece)
		}
		if b != nil && okA {
			rb, wakeB, okB = b.reserve(now, piece)
		}
		if !okA || !okB {
			// A burst shrank between chunk and reserve: plan again.
			cancelBoth(now)
			continue
		}
		for _, r := range []*rate.Reservation{ra, rb} {
			if r != nil {
				delay = max(delay, r.DelayFrom(now))
			}
		}
		if delay > 0 {
			c, stop := clock.NewTimer(delay)
			select {
			case <-c:
			case <-ctx.Done():
				stop()
				cancelBoth(clock.Now())
				return ctx.Err()
			case <-wakeA:
				stop()
				cancelBoth(clock.Now())
				continue
			case <-wakeB:
				stop()
				cancelBoth(clock.Now())
				continue
			}
		}
		n -= piece
	}
	return nil
}

// LimitConn returns conn with its Send bounded by perConn and host (either
// may be nil; with both nil conn itself is returned). Every frame waits
// for its length on both limiters before it is sent, in pieces no larger
// than the smaller burst, so frames larger than the burst pass at the
// rate. A host Limiter is meant to be shared by every connection to that
// host. When ctx is done during the wait, Send returns ctx's error and, as
// the Conn contract says, closes the connection. The two limiters should
// share a clock; perConn's is used.
func LimitConn(conn Conn, perConn, host *Limiter) Conn {
	if perConn == nil && host == nil {
		return conn
	}
	return &limitedConn{Conn: conn, sendA: perConn, sendB: host}
}

// LimitRecv returns conn with its Recv bounded by perConn and host (either
// may be nil; with both nil conn itself is returned): after each frame
// arrives, Recv waits for its length before returning it, which slows the
// peer down through the transport's flow control. When ctx is done during
// the wait, Recv returns ctx's error and closes the connection (the frame
// is lost). LimitRecv and LimitConn compose.
func LimitRecv(conn Conn, perConn, host *Limiter) Conn {
	if perConn == nil && host == nil {
		return conn
	}
	return &limitedConn{Conn: conn, recvA: perConn, recvB: host}
}

type limitedConn struct {
	Conn
	sendA, sendB *Limiter
	recvA, recvB *Limiter
}

// Unwrap returns the Conn LimitConn or LimitRecv wrapped.
func (c *limitedConn) Unwrap() Conn { return c.Conn }

func (c *limitedConn) Send(ctx context.Context, msg []byte) error {
	if c.sendA != nil || c.sendB != nil {
		if err := waitLimiters(ctx, len(msg), c.sendA, c.sendB); err != nil {
			_ = c.Conn.Close()
			return err
		}
	}
	return c.Conn.Send(ctx, msg)
}

func (c *limitedConn) Recv(ctx context.Context, buf []byte) ([]byte, error) {
	msg, err := c.Conn.Recv(ctx, buf)
	if err != nil || (c.recvA == nil && c.recvB == nil) {
		return msg, err
	}
	if err := waitLimiters(ctx, len(msg), c.recvA, c.recvB); err != nil {
		_ = c.Conn.Close()
		return nil, err
	}
	return msg, nil
}
