package replica

import "time"

// Clock is the source of time for everything in this package that waits or
// stamps: cycle schedules, back-off, freeze instants, statistics and health.
// RealClock is the wall clock; replicatest.Clock is a fake that a test
// advances by hand, so no test sleeps.
type Clock interface {
	// Now returns the current time.
	Now() time.Time

	// NewTimer returns a timer that delivers the time on its channel once
	// d has elapsed (at once for d ≤ 0).
	NewTimer(d time.Duration) Timer
}

// Timer is a single-shot timer made by a Clock.
type Timer interface {
	// C returns the channel the timer delivers its firing time on. It is
	// buffered: a firing is not lost when nobody is receiving yet.
	C() <-chan time.Time

	// Stop prevents the timer from firing. It reports whether the call
	// stopped the timer (false when it had already fired or been stopped).
	Stop() bool
}

// RealClock is the wall clock. Its zero value is ready to use.
type RealClock struct{}

// Now returns time.Now().
func (RealClock) Now() time.Time { return time.Now() }

// NewTimer returns a timer backed by time.NewTimer.
func (RealClock) NewTimer(d time.Duration) Timer { return realTimer{time.NewTimer(d)} }

type realTimer struct{ t *time.Timer }

func (r realTimer) C() <-chan time.Time { return r.t.C }
func (r realTimer) Stop() bool          { return r.t.Stop() }
