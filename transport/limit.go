package transport

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// Bounds and defaults of a Limiter's burst.
const (
	// MinDefaultBurst is the smallest burst a Limiter picks by itself.
	MinDefaultBurst = 32 << 10

	// MaxBurst is the largest burst a Limiter accepts or picks.
	MaxBurst = 1 << 30
)

// ErrBadLimit is returned by NewLimiter, Limiter.SetLimit and
// Limiter.SetBurst when a rate or burst is negative or a burst is over
// MaxBurst.
var ErrBadLimit = errors.New("transport: invalid bandwidth limit")

// LimiterClock is the time source a Limiter waits on. The default is the
// system clock; tests inject a fake one so that waits are observed, not
// slept.
type LimiterClock interface {
	// Now returns the current time.
	Now() time.Time

	// NewTimer starts a timer that delivers on the returned channel once d
	// has elapsed; stop releases it early and reports whether it was still
	// running.
	NewTimer(d time.Duration) (c <-chan time.Time, stop func() bool)
}

type systemClock struct{}

func (systemClock) Now() time.Time { return time.Now() }

func (systemClock) NewTimer(d time.Duration) (<-chan time.Time, func() bool) {
	t := time.NewTimer(d)
	return t.C, t.Stop
}

// LimiterOption configures a Limiter.
type LimiterOption func(*Limiter) error

// WithBurst sets the burst in bytes: how much may be sent at once after an
// idle period, and the largest piece a frame is cut into while waiting.
// The default (and 0) is a tenth of a second at the rate, at least
// MinDefaultBurst and at most MaxBurst, following the rate when it changes.
func WithBurst(bytes int) LimiterOption {
	return func(l *Limiter) error {
		if bytes < 0 || bytes > MaxBurst {
			return fmt.Errorf("%w: burst %d outside [0, %d]", ErrBadLimit, bytes, MaxBurst)
		}
		l.burst = bytes
		return nil
	}
}

// WithLimiterClock makes the Limiter read time from and wait on clock
// instead of the system clock.
func WithLimiterClock(clock LimiterClock) LimiterOption {
	return func(l *Limiter) error {
		if clock == nil {
			return fmt.Errorf("%w: nil clock", ErrBadLimit)
		}
		l.clock = clock
		return nil
	}
}

// Limiter bounds a bandwidth in bytes per second with a token bucket
// (golang.org/x/time/rate). One Limiter per connection bounds that
// connection; one Limiter shared by all connections to a host bounds the
// host's total; LimitConn combines both. The rate and burst can change at
// any time, and waits in progress re-plan at once under the new values.
// A Limiter is safe for concurrent use.
type Limiter struct {
	clock LimiterClock

	mu     sync.Mutex
	bps    int64 // 0: unlimited
	burst  int   // configured burst, 0: default
	bucket *rate.Limiter
	wake   chan struct{} // closed and replaced when rate or burst changes
}

// NewLimiter returns a Limiter allowing bytesPerSec bytes per second;
// 0 means unlimited. The error wraps ErrBadLimit.
func NewLimiter(bytesPerSec int64, opts ...LimiterOption) (*Limiter, error) {
	if bytesPerSec < 0 {
		return nil, fmt.Errorf("%w: rate %d bytes/s is negative", ErrBadLimit, bytesPerSec)
	}
	l := &Limiter{clock: systemClock{}, bps: bytesPerSec, wake: make(chan struct{})}
	for _, opt := range opts {
		if err := opt(l); err != nil {
			return nil, err
		}
	}
	rateOf := rate.Limit(1) // placeholder rate while unlimited; never consulted
	if l.bps > 0 {
		rateOf = rate.Limit(l.bps)
	}
	l.bucket = rate.NewLimiter(rateOf, l.effectiveBurst())
	return l, nil
}

// effectiveBurst returns the burst in force; l.mu held or l not shared.
func (l *Limiter) effectiveBurst() int {
	if l.burst > 0 {
		return l.burst
	}
	b := l.bps / 10
	if b < MinDefaultBurst {
		b = MinDefaultBurst
	}
	if b > MaxBurst {
		b = MaxBurst
	}
	return int(b)
}

// Limit returns the rate in bytes per second, 0 for unlimited.
func (l *Limiter) Limit() int64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.bps
}

// Burst returns the burst in force, in bytes.
func (l *Limiter) Burst() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.effectiveBurst()
}

// SetLimit changes the rate to bytesPerSec (0: unlimited). Waits in
// progress are woken and re-planned at the new rate; bytes already waited
// for are not charged again. Going from unlimited to a rate starts with a
// full bucket, as a new Limiter does. The error wraps ErrBadLimit.
func (l *Limiter) SetLimit(bytesPerSec int64) error {
	if bytesPerSec < 0 {
		return fmt.Errorf("%w: rate %d bytes/s is negative", ErrBadLimit, bytesPerSec)
	}
	now := l.clock.Now()
	l.mu.Lock()
	defer l.mu.Unlock()
	was := l.bps
	l.bps = bytesPerSec
	switch {
	case bytesPerSec == 0:
		// The bucket is left alone while unlimited (rate.Inf would turn
		// its arithmetic into NaN on the way back).
	case was == 0:
		// Traffic passed uncounted while unlimited: start afresh, full.
		l.bucket = rate.NewLimiter(rate.Limit(bytesPerSec), l.effectiveBurst())
	default:
		l.bucket.SetLimitAt(now, rate.Limit(bytesPerSec))
		l.bucket.SetBurstAt(now, l.effectiveBurst())
	}
	l.wakeLocked()
	return nil
}

// SetBurst changes the burst (0: the default, see WithBurst). Waits in
// progress are re-planned. The error wraps ErrBadLimit.
func (l *Limiter) SetBurst(bytes int) error {
	if bytes < 0 || bytes > MaxBurst {
		return fmt.Errorf("%w: burst %d outside [0, %d]", ErrBadLimit, bytes, MaxBurst)
	}
	now := l.clock.Now()
	l.mu.Lock()
	defer l.mu.Unlock()
	l.burst = bytes
	l.bucket.SetBurstAt(now, l.effectiveBurst())
	l.wakeLocked()
	return nil
}

func (l *Limiter) wakeLocked() {
	close(l.wake)
	l.wake = make(chan struct{})
}

// DelayAt returns how long a transfer of n bytes starting at now would
// wait in total, given what has been reserved so far. It changes nothing.
// The figure is what WaitN would spend across its burst-sized pieces when
// nothing else draws on the Limiter meanwhile.
func (l *Limiter) DelayAt(now time.Time, n int) time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.bps == 0 || n <= 0 {
		return 0
	}
	missing := float64(n) - l.bucket.TokensAt(now)
	if missing <= 0 {
		return 0
	}
	// Same formula as the rate package, so that predictions and the delays
	// of actual reservations agree to the nanosecond.
	return time.Duration(missing / float64(l.bps) * float64(time.Second))
}

// WaitN blocks until n bytes may pass, or ctx is done (ctx.Err() is
// returned and the part not yet waited for is given back to the bucket).
func (l *Limiter) WaitN(ctx context.Context, n int) error {
	return waitLimiters(ctx, n, l, nil)
}

// reserve takes n tokens at now. It returns the reservation (nil when
// unlimited) and the channel that is closed if the limits change; ok is
// false when n is over the burst (it shrank since the caller read it).
func (l *Limiter) reserve(now time.Time, n int) (r *rate.Reservation, wake <-chan struct{}, ok bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.bps == 0 {
		return nil, l.wake, true
	}
	r = l.bucket.ReserveN(now, n)
	return r, l.wake, r.OK()
}

// chunk returns the largest piece l lets through in one reservation.
func (l *Limiter) chunk(n int) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.bps == 0 {
		return n
	}
	return min(n, l.effectiveBurst())
}
