package main

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/blockrep/blockrep/replica"
)

// forwardLog keeps the forwards ExtendConfig.OnForward reports, the ones
// the replica host runs by itself as well as ForwardNow's.
type forwardLog struct {
	mu     sync.Mutex
	events []replica.ForwardEvent
}

func (l *forwardLog) add(e replica.ForwardEvent) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.events = append(l.events, e)
}

// take returns the events since the last take.
func (l *forwardLog) take() []replica.ForwardEvent {
	l.mu.Lock()
	defer l.mu.Unlock()
	ev := l.events
	l.events = nil
	return ev
}

// extend makes hv2 forward the group to hv3 and waits for the initial copy:
// Extend starts forwarding (a first forward at once, on the host's own
// goroutine), ForwardNow waits its turn behind it.
func (s *story) extend(ctx context.Context) error {
	s.forwards = &forwardLog{}
	s.rep.step("extend    hv2 → hv3: extended replication, the initial copy read from hv2's latest point")
	start := time.Now()
	err := s.hv2.rh.Extend(ctx, s.group, replica.ExtendConfig{
		Replica:   s.hv3.addr,
		Frequency: replica.DefaultExtendFrequency,
		Retention: s.retention(),
		Progress:  s.rep.progress("initial copy"),
		OnForward: s.forwards.add,
	})
	if err != nil {
		return fmt.Errorf("extend: %w", err)
	}
	if _, err := s.hv2.rh.ForwardNow(ctx, s.group); err != nil {
		return fmt.Errorf("forward: %w", err)
	}
	return s.reportForwards(ctx, time.Since(start))
}

// forward runs one forward from hv2 to hv3 now.
func (s *story) forward(ctx context.Context) error {
	start := time.Now()
	if _, err := s.hv2.rh.ForwardNow(ctx, s.group); err != nil {
		return fmt.Errorf("forward hv2 → hv3: %w", err)
	}
	return s.reportForwards(ctx, time.Since(start))
}

// reportForwards prints the forwards made since the last report and checks
// hv3's latest point: the point forwarded last, holding the primary's image
// the model kept for that point.
func (s *story) reportForwards(ctx context.Context, took time.Duration) error {
	for _, e := range s.forwards.take() {
		r := e.Result
		switch {
		case e.Err != nil:
			s.rep.fail("forward hv2 → hv3: %v", e.Err)
			return fmt.Errorf("forward hv2 → hv3: %w", e.Err)
		case r.Points == 0:
			continue // nothing new since the last forward
		case r.Base.IsZero():
			s.rep.step("forward   hv2 → hv3  point %s  initial copy: %d blocks, %s delta (%s)", shortID(r.Point), r.Blocks, formatBytes(r.StreamBytes), formatDuration(took))
		default:
			s.rep.step("forward   hv2 → hv3  point %s  %d points coalesced: %d blocks, %s delta (%s)", shortID(r.Point), r.Points, r.Blocks, formatBytes(r.StreamBytes), formatDuration(took))
		}
	}
	points, err := s.checkpointPoints(ctx, s.hv3)
	if err != nil {
		return err
	}
	if len(points) == 0 {
		s.rep.fail("hv3 holds no point after the forward")
		return fmt.Errorf("forward hv2 → hv3: %w", errMismatch)
	}
	latest := points[len(points)-1]
	latestHV2, err := s.checkpointPoints(ctx, s.hv2)
	if err != nil {
		return err
	}
	if want := latestHV2[len(latestHV2)-1].ID; latest.ID != want {
		s.rep.fail("hv3's latest point is %s, hv2's %s", shortID(latest.ID), shortID(want))
		return fmt.Errorf("forward hv2 → hv3: %w", errMismatch)
	}
	return s.checkRecorded(s.hv3, latest)
}
