package main

import (
	"context"
	"time"

	"github.com/blockrep/blockrep/replica"
)

// forwardEvery is how many cycles pass between two forwards to hv3.
const forwardEvery = 3

// writesPerSecond is the writer's rate: -writes, or by default a
// sixty-fourth of the group's blocks a second (5 MiB/s for the default
// 320 MiB group), at least 16.
func (s *story) writesPerSecond() int {
	if s.opt.Writes > 0 {
		return s.opt.Writes
	}
	return max(16, int(s.total()/int64(s.blockSize)/64))
}

// startWriter starts the writer on the current primary's volumes.
func (s *story) startWriter(ctx context.Context) {
	if s.w == nil {
		s.w = newWriter(s.m, s.opt.Seed, s.blockSize, s.sizes, s.writesPerSecond())
	}
	w, _ := s.primaryVolumes()
	s.w.start(ctx, w)
}

// runCycles starts the writer and runs the main phase's cycles, one per
// interval, while it writes.
func (s *story) runCycles(ctx context.Context) error {
	s.startWriter(ctx)
	s.rep.step("writer    writes %d random blocks a second through hv1's tracked volumes (a quarter of them zeros)", s.writesPerSecond())
	s.rep.step("cycles    %d cycles, %s: this program calls Relationship.Cycle itself — PrimaryHost.Run", s.opt.Cycles, s.every())
	s.rep.detail("would run them at the group's frequency, and the library's shortest is %s, too slow for a demo", formatDuration(30*time.Second))
	s.rep.detail("every %d cycles hv2 forwards its latest point to hv3 (ForwardNow; on its own it would every %s)", forwardEvery, formatDuration(replica.DefaultExtendFrequency))
	return s.cycleLoop(ctx, s.opt.Cycles, func(ctx context.Context, i int) error {
		if i%forwardEvery != 0 && i != s.opt.Cycles {
			return nil
		}
		return s.forward(ctx)
	})
}

// cycleLoop runs n paced cycles; after each, more (when set) is called with
// the cycle's number in the loop, from 1.
func (s *story) cycleLoop(ctx context.Context, n int, more func(context.Context, int) error) error {
	start := time.Now()
	for i := 1; i <= n; i++ {
		if err := s.pace(ctx, start, i); err != nil {
			return err
		}
		if _, err := s.cycle(ctx); err != nil {
			return err
		}
		if more != nil {
			if err := more(ctx, i); err != nil {
				return err
			}
		}
	}
	return nil
}

// every describes the pace of the cycles.
func (s *story) every() string {
	if s.opt.Every <= 0 {
		return "back to back"
	}
	return "one every " + formatDuration(s.opt.Every)
}
