package replica

import (
	"context"
	"fmt"
	"time"
)

// ResyncWindow is a daily time window in which PrimaryHost.Run starts a
// resynchronization by itself when a relationship requires one (see
// GroupConfig.ResyncWindow), so that reading and hashing whole volumes
// happens off-peak. Times are offsets from midnight in the location of
// the host clock's Now. A resynchronization started inside the window runs
// to its end even past it.
type ResyncWindow struct {
	// Start is when the window opens, 0 ≤ Start < 24h.
	Start time.Duration
	// End is when it closes, 0 ≤ End < 24h. End before Start makes a
	// window across midnight (22:00 to 04:00); End equal to Start makes
	// the window the whole day.
	End time.Duration
}

// Validate reports an offset outside 0..24h, wrapping ErrInvalidConfig.
func (w ResyncWindow) Validate() error {
	const day = 24 * time.Hour
	if w.Start < 0 || w.Start >= day || w.End < 0 || w.End >= day {
		return fmt.Errorf("%w: resync window %s–%s: offsets must be within 0..24h", ErrInvalidConfig, w.Start, w.End)
	}
	return nil
}

func midnight(t time.Time) time.Time {
	y, m, d := t.Date()
	return time.Date(y, m, d, 0, 0, 0, 0, t.Location())
}

// Contains reports whether t falls inside the window.
func (w ResyncWindow) Contains(t time.Time) bool {
	off := t.Sub(midnight(t))
	switch {
	case w.Start == w.End:
		return true
	case w.Start < w.End:
		return off >= w.Start && off < w.End
	}
	return off >= w.Start || off < w.End
}

// Next returns t when it is inside the window, else the instant the
// window opens next after t.
func (w ResyncWindow) Next(t time.Time) time.Time {
	if w.Contains(t) {
		return t
	}
	open := midnight(t).Add(w.Start)
	if open.Before(t) {
		open = midnight(t).AddDate(0, 0, 1).Add(w.Start)
	}
	return open
}

// resyncDue returns when the schedule should start a resynchronization:
// the first instant inside the window at or after now and the back-off's
// next attempt; false when the group has no window (only an operator's
// Resynchronize resynchronizes it).
func (r *Relationship) resyncDue(now, nextAttempt time.Time) (time.Time, bool) {
	w := r.cfg.ResyncWindow
	if w == nil {
		return time.Time{}, false
	}
	if nextAttempt.After(now) {
		now = nextAttempt
	}
	return w.Next(now), true
}

// attemptResync runs a scheduled resynchronization and plans a retry
// after the back-off when it fails.
func (r *Relationship) attemptResync(ctx context.Context, s *schedule) {
	if !r.acquireScheduled(ctx) {
		return
	}
	var err error
	if r.State() == ResynchronizationRequired {
		_, err = r.resyncLocked(ctx)
	}
	r.release()
	if ctx.Err() != nil {
		return
	}
	if err != nil {
		s.failures++
		s.nextAttempt = r.clock.Now().Add(r.host.backoff(s.failures))
		return
	}
	s.failures, s.nextAttempt = 0, time.Time{}
}
