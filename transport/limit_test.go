package transport_test

import (
	"bytes"
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/blockrep/blockrep/transport"
)

// limitClock is a fake LimiterClock. In auto mode every timer fires at
// once and moves the clock forward by its duration; otherwise each timer
// is announced on timers and fires only when the test says so.
type limitClock struct {
	mu     sync.Mutex
	now    time.Time
	auto   bool
	waits  []time.Duration
	timers chan limitTimer
}

type limitTimer struct {
	d    time.Duration
	fire chan time.Time
}

var limitEpoch = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

func newLimitClock(auto bool) *limitClock {
	return &limitClock{now: limitEpoch, auto: auto, timers: make(chan limitTimer, 16)}
}

func (c *limitClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *limitClock) NewTimer(d time.Duration) (<-chan time.Time, func() bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.waits = append(c.waits, d)
	ch := make(chan time.Time, 1)
	if c.auto {
		c.now = c.now.Add(d)
		ch <- c.now
		return ch, func() bool { return false }
	}
	c.timers <- limitTimer{d: d, fire: ch}
	return ch, func() bool { return true }
}

func (c *limitClock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

func (c *limitClock) recorded() []time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]time.Duration(nil), c.waits...)
}

// limitTestConn is a minimal in-test Conn: Send records frames, Recv
// returns queued ones.
type limitTestConn struct {
	mu     sync.Mutex
	sent   [][]byte
	queue  [][]byte
	closes int
}

func (c *limitTestConn) Send(ctx context.Context, msg []byte) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closes > 0 {
		return transport.ErrClosed
	}
	c.sent = append(c.sent, bytes.Clone(msg))
	return nil
}

func (c *limitTestConn) Recv(ctx context.Context, buf []byte) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closes > 0 {
		return nil, transport.ErrClosed
	}
	if len(c.queue) == 0 {
		return nil, transport.ErrConnectionLost
	}
	msg := c.queue[0]
	c.queue = c.queue[1:]
	return append(buf[:0], msg...), nil
}

func (c *limitTestConn) Peer() transport.Identity {
	return transport.Identity{Name: "peer.example", Authenticated: true}
}
func (c *limitTestConn) LocalAddr() string  { return "local" }
func (c *limitTestConn) RemoteAddr() string { return "remote" }

func (c *limitTestConn) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.closes++
	return nil
}

func (c *limitTestConn) frames() [][]byte {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([][]byte(nil), c.sent...)
}

func (c *limitTestConn) closeCount() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.closes
}

func newTestLimiter(t *testing.T, clock *limitClock, bps int64, burst int) *transport.Limiter {
	t.Helper()
	l, err := transport.NewLimiter(bps, transport.WithBurst(burst), transport.WithLimiterClock(clock))
	require.NoError(t, err)
	return l
}

func frame(n int, fill byte) []byte { return bytes.Repeat([]byte{fill}, n) }

func TestLimiterDelayAt(t *testing.T) {
	clock := newLimitClock(true)
	l := newTestLimiter(t, clock, 1024, 1024)

	// A full bucket lets a burst through; beyond it, the rate applies.
	assert.Equal(t, time.Duration(0), l.DelayAt(limitEpoch, 1024))
	assert.Equal(t, 500*time.Millisecond, l.DelayAt(limitEpoch, 1536))
	assert.Equal(t, 3*time.Second, l.DelayAt(limitEpoch, 4096))
	assert.Equal(t, time.Duration(0), l.DelayAt(limitEpoch, 0))

	require.NoError(t, l.WaitN(context.Background(), 1024))
	assert.Empty(t, clock.recorded(), "a full bucket does not wait")

	assert.Equal(t, 500*time.Millisecond, l.DelayAt(limitEpoch, 512))
	assert.Equal(t, time.Second, l.DelayAt(limitEpoch, 1024))
	assert.Equal(t, 250*time.Millisecond, l.DelayAt(limitEpoch.Add(250*time.Millisecond), 512))
	assert.Equal(t, time.Duration(0), l.DelayAt(limitEpoch.Add(time.Second), 1024))
	assert.Equal(t, time.Second, l.DelayAt(limitEpoch.Add(time.Hour), 2048), "the bucket holds at most a burst")
}

func TestLimiterWaitNInPieces(t *testing.T) {
	clock := newLimitClock(true)
	l := newTestLimiter(t, clock, 1024, 1024)

	predicted := l.DelayAt(limitEpoch, 4096)
	require.NoError(t, l.WaitN(context.Background(), 4096))

	// 4096 bytes with a burst of 1024: four pieces, the first from the full
	// bucket, each other one second at 1024 bytes/s.
	assert.Equal(t, []time.Duration{time.Second, time.Second, time.Second}, clock.recorded())
	assert.Equal(t, 3*time.Second, predicted)
	assert.Equal(t, limitEpoch.Add(predicted), clock.Now())
}

func TestLimiterSetLimit(t *testing.T) {
	clock := newLimitClock(true)
	l := newTestLimiter(t, clock, 1024, 1024)
	require.NoError(t, l.WaitN(context.Background(), 1024))

	require.NoError(t, l.SetLimit(2048))
	assert.Equal(t, int64(2048), l.Limit())
	assert.Equal(t, 250*time.Millisecond, l.DelayAt(limitEpoch, 512))

	require.NoError(t, l.SetLimit(0))
	assert.Equal(t, int64(0), l.Limit())
	assert.Equal(t, time.Duration(0), l.DelayAt(limitEpoch, 1<<30))
	require.NoError(t, l.WaitN(context.Background(), 1<<30))
	assert.Empty(t, clock.recorded(), "unlimited never waits")

	// Back to a limit: the bucket starts full, as a new one does.
	clock.advance(250 * time.Millisecond)
	require.NoError(t, l.SetLimit(1024))
	assert.Equal(t, time.Duration(0), l.DelayAt(clock.Now(), 1024))
	assert.Equal(t, 500*time.Millisecond, l.DelayAt(clock.Now(), 1536))

	assert.ErrorIs(t, l.SetLimit(-1), transport.ErrBadLimit)
	assert.Equal(t, int64(1024), l.Limit())
}

func TestLimiterBurst(t *testing.T) {
	l, err := transport.NewLimiter(100 << 20)
	require.NoError(t, err)
	assert.Equal(t, 10<<20, l.Burst(), "a tenth of a second by default")

	l, err = transport.NewLimiter(1000)
	require.NoError(t, err)
	assert.Equal(t, transport.MinDefaultBurst, l.Burst())

	l, err = transport.NewLimiter(1 << 40)
	require.NoError(t, err)
	assert.Equal(t, transport.MaxBurst, l.Burst())

	l, err = transport.NewLimiter(0)
	require.NoError(t, err)
	assert.Equal(t, transport.MinDefaultBurst, l.Burst())
	require.NoError(t, l.SetLimit(50<<20))
	assert.Equal(t, 5<<20, l.Burst(), "the default follows the rate")

	require.NoError(t, l.SetBurst(4096))
	assert.Equal(t, 4096, l.Burst())
	require.NoError(t, l.SetLimit(100<<20))
	assert.Equal(t, 4096, l.Burst(), "an explicit burst stays")
	require.NoError(t, l.SetBurst(0))
	assert.Equal(t, 10<<20, l.Burst())

	assert.ErrorIs(t, l.SetBurst(-1), transport.ErrBadLimit)
	assert.ErrorIs(t, l.SetBurst(transport.MaxBurst+1), transport.ErrBadLimit)
	assert.Equal(t, 10<<20, l.Burst())

	for name, opts := range map[string][]transport.LimiterOption{
		"negative burst": {transport.WithBurst(-1)},
		"huge burst":     {transport.WithBurst(transport.MaxBurst + 1)},
		"nil clock":      {transport.WithLimiterClock(nil)},
	} {
		_, err := transport.NewLimiter(1024, opts...)
		assert.ErrorIs(t, err, transport.ErrBadLimit, name)
	}
	_, err = transport.NewLimiter(-1)
	assert.ErrorIs(t, err, transport.ErrBadLimit)
}

func TestLimitConnSend(t *testing.T) {
	clock := newLimitClock(true)
	perConn := newTestLimiter(t, clock, 1024, 512)
	host := newTestLimiter(t, clock, 2048, 1024)
	inner := &limitTestConn{}
	c := transport.LimitConn(inner, perConn, host)

	msg := frame(2048, 7)
	require.NoError(t, c.Send(context.Background(), msg))
	require.Equal(t, [][]byte{msg}, inner.frames(), "the frame goes through whole")

	// Pieces of 512 (the smaller burst), each reserved on both limiters
	// at once: the first is free on both, the next three wait 0.5 s on the
	// per-connection limiter while the faster host bucket keeps up.
	assert.Equal(t, []time.Duration{500 * time.Millisecond, 500 * time.Millisecond, 500 * time.Millisecond}, clock.recorded())

	// Both buckets were charged the whole frame.
	assert.Equal(t, time.Second, perConn.DelayAt(clock.Now(), 1024))
	assert.Equal(t, 250*time.Millisecond, host.DelayAt(clock.Now(), 1536), "the host bucket refilled meanwhile")

	// The wrapper passes the rest of the Conn through.
	assert.Equal(t, "peer.example", c.Peer().Name)
	assert.Equal(t, "local", c.LocalAddr())
	assert.Equal(t, "remote", c.RemoteAddr())
	require.NoError(t, c.Close())
	assert.Equal(t, 1, inner.closeCount())
}

func TestLimitConnSharedHost(t *testing.T) {
	clock := newLimitClock(true)
	host := newTestLimiter(t, clock, 1024, 1024)
	first, second := &limitTestConn{}, &limitTestConn{}
	c1 := transport.LimitConn(first, nil, host)
	c2 := transport.LimitConn(second, nil, host)

	require.NoError(t, c1.Send(context.Background(), frame(1024, 1)))
	assert.Empty(t, clock.recorded())
	require.NoError(t, c2.Send(context.Background(), frame(1024, 2)))
	assert.Equal(t, []time.Duration{time.Second}, clock.recorded(), "the second connection pays for the first")
	assert.Equal(t, [][]byte{frame(1024, 1)}, first.frames())
	assert.Equal(t, [][]byte{frame(1024, 2)}, second.frames())
}

func TestLimitConnNilLimiters(t *testing.T) {
	inner := &limitTestConn{}
	assert.Same(t, inner, transport.LimitConn(inner, nil, nil).(*limitTestConn))
	assert.Same(t, inner, transport.LimitRecv(inner, nil, nil).(*limitTestConn))
}

func TestLimitConnCancelWhileWaiting(t *testing.T) {
	clock := newLimitClock(false)
	perConn := newTestLimiter(t, clock, 1024, 1024)
	require.NoError(t, perConn.WaitN(context.Background(), 1024)) // empty the bucket
	inner := &limitTestConn{}
	c := transport.LimitConn(inner, perConn, nil)

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Send(ctx, frame(512, 3)) }()

	timer := <-clock.timers
	assert.Equal(t, 500*time.Millisecond, timer.d)
	cancel()
	err := <-done
	assert.ErrorIs(t, err, context.Canceled)
	assert.Empty(t, inner.frames(), "nothing sent")
	assert.Equal(t, 1, inner.closeCount(), "a cancelled Send closes the connection, as Conn documents")

	// The cancelled reservation was given back: 512 bytes still wait 0.5 s,
	// not 1 s.
	assert.Equal(t, 500*time.Millisecond, perConn.DelayAt(clock.Now(), 512))
}

func TestLimiterWaitNCancelled(t *testing.T) {
	clock := newLimitClock(false)
	l := newTestLimiter(t, clock, 1024, 1024)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	assert.ErrorIs(t, l.WaitN(ctx, 1), context.Canceled)
	assert.Equal(t, time.Duration(0), l.DelayAt(clock.Now(), 1024), "a refused wait takes nothing")
	assert.Empty(t, clock.recorded())
}

func TestLimiterSetLimitWakesWaiters(t *testing.T) {
	clock := newLimitClock(false)
	perConn := newTestLimiter(t, clock, 1024, 1024)
	require.NoError(t, perConn.WaitN(context.Background(), 1024))
	inner := &limitTestConn{}
	c := transport.LimitConn(inner, perConn, nil)

	done := make(chan error, 1)
	go func() { done <- c.Send(context.Background(), frame(1024, 4)) }()
	timer := <-clock.timers
	assert.Equal(t, time.Second, timer.d)

	// Faster: the waiter gives its reservation back and plans again.
	require.NoError(t, perConn.SetLimit(4096))
	timer = <-clock.timers
	assert.Equal(t, 250*time.Millisecond, timer.d)

	// Unlimited: it goes at once, no timer fires.
	require.NoError(t, perConn.SetLimit(0))
	require.NoError(t, <-done)
	assert.Equal(t, [][]byte{frame(1024, 4)}, inner.frames())
	assert.Equal(t, 0, inner.closeCount())
}

func TestLimitRecv(t *testing.T) {
	clock := newLimitClock(true)
	perConn := newTestLimiter(t, clock, 1024, 1024)
	inner := &limitTestConn{queue: [][]byte{frame(1024, 1), frame(1024, 2), frame(2048, 3)}}
	c := transport.LimitRecv(inner, perConn, nil)

	var got [][]byte
	for range 3 {
		msg, err := c.Recv(context.Background(), nil)
		require.NoError(t, err)
		got = append(got, msg)
	}
	assert.Equal(t, [][]byte{frame(1024, 1), frame(1024, 2), frame(2048, 3)}, got)
	assert.Equal(t, []time.Duration{time.Second, time.Second, time.Second}, clock.recorded())

	// Errors from the connection pass through untouched and cost nothing.
	_, err := c.Recv(context.Background(), nil)
	assert.ErrorIs(t, err, transport.ErrConnectionLost)
	assert.Len(t, clock.recorded(), 3)

	// Send is not limited by LimitRecv.
	require.NoError(t, c.Send(context.Background(), frame(4096, 9)))
	assert.Len(t, clock.recorded(), 3)
}

func TestLimitRecvCancelWhileWaiting(t *testing.T) {
	clock := newLimitClock(false)
	perConn := newTestLimiter(t, clock, 1024, 1024)
	require.NoError(t, perConn.WaitN(context.Background(), 1024))
	inner := &limitTestConn{queue: [][]byte{frame(256, 5)}}
	c := transport.LimitRecv(inner, perConn, nil)

	ctx, cancel := context.WithCancel(context.Background())
	type result struct {
		msg []byte
		err error
	}
	done := make(chan result, 1)
	go func() {
		msg, err := c.Recv(ctx, nil)
		done <- result{msg, err}
	}()
	timer := <-clock.timers
	assert.Equal(t, 250*time.Millisecond, timer.d)
	cancel()
	r := <-done
	assert.ErrorIs(t, r.err, context.Canceled)
	assert.Nil(t, r.msg)
	assert.Equal(t, 1, inner.closeCount())
}

func TestLimitConnManualTimerFires(t *testing.T) {
	clock := newLimitClock(false)
	perConn := newTestLimiter(t, clock, 1024, 1024)
	require.NoError(t, perConn.WaitN(context.Background(), 1024))
	inner := &limitTestConn{}
	c := transport.LimitConn(inner, perConn, nil)

	done := make(chan error, 1)
	go func() { done <- c.Send(context.Background(), frame(2048, 6)) }()
	for _, want := range []time.Duration{time.Second, time.Second} {
		timer := <-clock.timers
		assert.Equal(t, want, timer.d)
		assert.Empty(t, inner.frames(), "nothing goes before the wait ends")
		clock.advance(timer.d)
		timer.fire <- clock.Now()
	}
	require.NoError(t, <-done)
	assert.Equal(t, [][]byte{frame(2048, 6)}, inner.frames())
}

// TestLimitConnConcurrent shares one host limiter between connections
// sending at the same time, for the race detector, and checks every frame
// arrives intact on its own connection.
func TestLimitConnConcurrent(t *testing.T) {
	clock := newLimitClock(true)
	host := newTestLimiter(t, clock, 1<<20, 4096)
	const conns, frames = 4, 20
	inners := make([]*limitTestConn, conns)
	var wg sync.WaitGroup
	errs := make(chan error, conns+10)
	for i := range conns {
		inners[i] = &limitTestConn{}
		perConn := newTestLimiter(t, clock, 512<<10, 2048)
		c := transport.LimitConn(inners[i], perConn, host)
		wg.Go(func() {
			for j := range frames {
				if err := c.Send(context.Background(), frame(3000, byte(i*frames+j))); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Go(func() {
		for i := range 10 {
			if err := host.SetLimit(int64(1+i%3) << 20); err != nil {
				errs <- err
			}
		}
	})
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	for i, inner := range inners {
		got := inner.frames()
		require.Len(t, got, frames)
		for j, f := range got {
			assert.Equal(t, frame(3000, byte(i*frames+j)), f)
		}
	}
}

// ExampleLimitConn bounds a connection to 1 MiB/s and the host it goes to
// to 4 MiB/s across all its connections, then lowers the host's limit
// while running.
func ExampleLimitConn() {
	host, err := transport.NewLimiter(4 << 20)
	if err != nil {
		fmt.Println(err)
		return
	}
	perConn, err := transport.NewLimiter(1 << 20)
	if err != nil {
		fmt.Println(err)
		return
	}
	var conn transport.Conn = &limitTestConn{} // a connection from Dial or Accept
	conn = transport.LimitConn(conn, perConn, host)

	// The first frame fits in the burst and goes at once.
	if err := conn.Send(context.Background(), make([]byte, 64<<10)); err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("per-connection burst:", perConn.Burst())

	// An administrator halves the host's bandwidth; waits re-plan at once.
	if err := host.SetLimit(2 << 20); err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("host limit:", host.Limit())
	// Output:
	// per-connection burst: 104857
	// host limit: 2097152
}
