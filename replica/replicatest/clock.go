package replicatest

import (
	"context"
	"slices"
	"sync"
	"time"

	"github.com/blockrep/blockrep/replica"
)

// Clock is a fake replica.Clock for tests. Time stands still until Advance
// or Set moves it; timers that come due fire then, in deadline order, on
// the goroutine that moved the time. BlockUntil lets a test wait, without
// sleeping, until the code under test has armed its timers.
//
// Clock also has the After method of the in-memory network's clock
// (transport/memory.Clock), so one fake can drive both.
type Clock struct {
	mu      sync.Mutex
	now     time.Time
	timers  []*timer // armed, not fired, not stopped
	changed chan struct{}
}

var _ replica.Clock = (*Clock)(nil)

// NewClock returns a fake clock reading start.
func NewClock(start time.Time) *Clock {
	return &Clock{now: start, changed: make(chan struct{})}
}

type timer struct {
	c    *Clock
	at   time.Time
	ch   chan time.Time
	live bool
}

// Now returns the fake time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// NewTimer arms a timer firing d after the current fake time. A timer with
// d ≤ 0 fires at once.
func (c *Clock) NewTimer(d time.Duration) replica.Timer {
	c.mu.Lock()
	defer c.mu.Unlock()
	t := &timer{c: c, at: c.now.Add(d), ch: make(chan time.Time, 1)}
	if d <= 0 {
		t.ch <- c.now
		return t
	}
	t.live = true
	c.timers = append(c.timers, t)
	c.notifyLocked()
	return t
}

// After returns a channel that receives once d has elapsed on the fake
// clock.
func (c *Clock) After(d time.Duration) <-chan time.Time { return c.NewTimer(d).C() }

func (t *timer) C() <-chan time.Time { return t.ch }

func (t *timer) Stop() bool {
	c := t.c
	c.mu.Lock()
	defer c.mu.Unlock()
	if !t.live {
		return false
	}
	t.live = false
	c.timers = slices.DeleteFunc(c.timers, func(x *timer) bool { return x == t })
	c.notifyLocked()
	return true
}

// notifyLocked wakes every BlockUntil waiter to look at the timers again.
func (c *Clock) notifyLocked() {
	close(c.changed)
	c.changed = make(chan struct{})
}

// Advance moves the time forward by d, firing every timer that comes due,
// earliest first. A negative d panics: fake time never goes back.
func (c *Clock) Advance(d time.Duration) {
	if d < 0 {
		panic("replicatest: Clock.Advance with a negative duration")
	}
	c.mu.Lock()
	c.setLocked(c.now.Add(d))
	c.mu.Unlock()
}

// Set moves the time to t (not before the current time; an earlier t
// panics), firing every timer due by then.
func (c *Clock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if t.Before(c.now) {
		panic("replicatest: Clock.Set moves time backwards")
	}
	c.setLocked(t)
}

func (c *Clock) setLocked(to time.Time) {
	for {
		var due *timer
		for _, t := range c.timers {
			if !t.at.After(to) && (due == nil || t.at.Before(due.at)) {
				due = t
			}
		}
		if due == nil {
			break
		}
		// Time steps to each deadline in turn, so a timer's firing time
		// is its own deadline, and Now seen by whoever wakes first is not
		// before it.
		c.now = due.at
		due.live = false
		c.timers = slices.DeleteFunc(c.timers, func(x *timer) bool { return x == due })
		due.ch <- due.at
	}
	c.now = to
	c.notifyLocked()
}

// Timers returns the number of armed timers.
func (c *Clock) Timers() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.timers)
}

// Deadlines returns the deadlines of the armed timers, earliest first.
func (c *Clock) Deadlines() []time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	ds := make([]time.Time, len(c.timers))
	for i, t := range c.timers {
		ds[i] = t.at
	}
	slices.SortFunc(ds, func(a, b time.Time) int { return a.Compare(b) })
	return ds
}

// BlockUntil waits until exactly n timers are armed, or ctx is done (its
// error is returned). A test calls it after moving the time to know that
// the code it drives has reacted and armed its next timers (or, with n =
// 0, stopped them).
func (c *Clock) BlockUntil(ctx context.Context, n int) error {
	for {
		c.mu.Lock()
		armed, changed := len(c.timers), c.changed
		c.mu.Unlock()
		if armed == n {
			return nil
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}
