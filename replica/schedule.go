package replica

import (
	"context"
	"time"
)

// schedule is a relationship's cycle timetable while PrimaryHost.Run runs.
//
// Time is cut into slots of the relationship's frequency, starting when it
// (re)enters Replicating. One cycle is due at the start of each slot. A
// slot is missed — counted once — when a cycle in it fails or could not
// run, or when it ends without a successful cycle. After a failure the
// next attempt waits for the back-off (1, 2, 4, 8 minutes, then the retry
// interval) instead of the next slot; the slots that pass meanwhile are
// missed.
type schedule struct {
	active      bool      // slots are running (the relationship is Replicating)
	slot        time.Time // start of the current slot
	slotOK      bool      // a cycle succeeded in the current slot
	slotMissed  bool      // the current slot was counted as missed
	nextAttempt time.Time
	failures    int // consecutive failed attempts
}

// loop runs the relationship's schedule until ctx is done.
func (r *Relationship) loop(ctx context.Context) {
	var s schedule
	clock := r.clock
	for ctx.Err() == nil {
		now := clock.Now()
		state := r.State()
		var wakeAt time.Time
		switch state {
		case InitialReplicationPending:
			s.active = false
			at := r.cfg.Initial.At
			if s.nextAttempt.After(at) {
				at = s.nextAttempt
			}
			if !now.Before(at) {
				r.attempt(ctx, &s, true)
				continue
			}
			wakeAt = at
		case InitialReplicationInProgress:
			// A Media export waits for its import on the replica: each
			// attempt asks the replica's status (initial_media.go).
			if !r.awaitingImport() {
				s.active, s.failures, s.nextAttempt = false, 0, time.Time{}
				break
			}
			s.active = false
			if !now.Before(s.nextAttempt) {
				r.attempt(ctx, &s, true)
				continue
			}
			wakeAt = s.nextAttempt
		case Replicating:
			if !s.active {
				s = schedule{active: true, slot: now, slotOK: true, nextAttempt: now.Add(r.freq)}
			}
			r.advanceSlots(&s, now)
			if !now.Before(s.nextAttempt) {
				r.attempt(ctx, &s, false)
				continue
			}
			wakeAt = s.nextAttempt
			if end := s.slot.Add(r.freq); end.Before(wakeAt) {
				wakeAt = end
			}
		case ResynchronizationRequired:
			if s.active {
				// Coming from Replicating: the cycle timetable is void.
				s = schedule{}
			}
			if at, ok := r.resyncDue(now, s.nextAttempt); ok {
				if !now.Before(at) {
					r.attemptResync(ctx, &s)
					continue
				}
				wakeAt = at
			}
		default:
			// Suspended, resynchronization required, …: nothing runs; a
			// later return to Replicating starts a new slot.
			s.active = false
			s.failures = 0
			s.nextAttempt = time.Time{}
		}
		var timerC <-chan time.Time
		var t Timer
		if !wakeAt.IsZero() {
			t = clock.NewTimer(wakeAt.Sub(now))
			timerC = t.C()
		}
		select {
		case <-ctx.Done():
		case <-r.wake:
		case <-timerC:
		}
		if t != nil {
			t.Stop()
		}
	}
}

// advanceSlots moves the current slot up to now, counting the slots that
// ended without a successful cycle.
func (r *Relationship) advanceSlots(s *schedule, now time.Time) {
	for !now.Before(s.slot.Add(r.freq)) {
		if !s.slotOK && !s.slotMissed && !r.succeededSince(s.slot) {
			r.countMissed()
		}
		s.slot = s.slot.Add(r.freq)
		s.slotOK, s.slotMissed = false, false
	}
}

// succeededSince reports whether a cycle (perhaps a manual one) succeeded
// at or after t.
func (r *Relationship) succeededSince(t time.Time) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return !r.stats.lastSuccess.IsZero() && !r.stats.lastSuccess.Before(t)
}

func (r *Relationship) countMissed() {
	r.mu.Lock()
	r.stats.missed++
	r.mu.Unlock()
}

// attempt runs a due initial replication or cycle and plans the next one.
func (r *Relationship) attempt(ctx context.Context, s *schedule, initial bool) {
	if !r.acquireScheduled(ctx) {
		return
	}
	var err error
	if initial {
		if st := r.State(); st == InitialReplicationPending || (st == InitialReplicationInProgress && r.awaitingImport()) {
			_, err = r.initialLocked(ctx)
		}
	} else if r.State() == Replicating {
		_, err = r.cycleLocked(ctx)
	}
	r.release()
	if ctx.Err() != nil {
		return
	}
	now := r.clock.Now()
	if err != nil {
		s.failures++
		s.nextAttempt = now.Add(r.host.backoff(s.failures))
		if s.active {
			r.advanceSlots(s, now)
			if !s.slotMissed && !s.slotOK {
				s.slotMissed = true
				r.countMissed()
			}
		}
		return
	}
	s.failures = 0
	if initial || !s.active {
		// Replicating from now: the schedule starts its first slot.
		s.active = false
		s.nextAttempt = time.Time{}
		return
	}
	r.advanceSlots(s, now)
	s.slotOK = true
	s.nextAttempt = s.slot.Add(r.freq)
}
