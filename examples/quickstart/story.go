package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/blockrep/blockrep/delta"
	"github.com/blockrep/blockrep/replica"
)

// groupID names the group on every host.
const groupID = "vm-quickstart"

// story is one run of the quickstart: the hosts, the group's volumes, the
// writer and the model of what every point must hold.
type story struct {
	opt       options
	rep       *report
	root      string
	group     string
	blockSize int

	vols  []*volumeFile
	sizes []int64
	hosts []*host
	hv1   *host // the primary at first
	hv2   *host // its replica, which forwards to hv3
	hv3   *host // the extended replica

	m *model
	w *writer

	// The relationship the writer writes through, the host it runs on and
	// the host it replicates to: they change with each reversal.
	rel     *replica.Relationship
	primary *host
	replica *host
	cycles  int   // cycles run so far
	sent    int64 // bytes of delta streams the cycles sent

	forwards  *forwardLog // hv2's forwards to hv3
	lostImage image       // the lost primary's image as it stopped
}

// step is one part of the story, named for the test hook.
type step struct {
	name string
	run  func(context.Context) error
}

// run tells the whole story, step by step, stopping at the first error or
// difference. It always stops the writer and the hosts before returning.
func (s *story) run(ctx context.Context) (err error) {
	s.group = groupID
	s.blockSize = delta.DefaultBlockSize
	defer func() {
		// The writer first (it writes through a primary host), then the
		// hosts, then the files under the first primary's volumes.
		errs := []error{err, s.w.stopIfAny()}
		if s.hosts != nil {
			errs = append(errs, stopHosts(s.hosts))
		}
		err = errors.Join(append(errs, s.closeVolumes())...)
	}()
	s.rep.line(fmt.Sprintf("blockrep quickstart: a primary, a replica and an extended replica in this process, seed %d.", s.opt.Seed))
	s.rep.line("Each line is a step (seconds since the start first); each ✓ a check of content by hash against what")
	s.rep.line("this program wrote, kept apart from the library; a ✗ stops the run with exit status 1.")
	for _, st := range s.steps() {
		if err := st.run(ctx); err != nil {
			return err
		}
		if s.opt.afterStep != nil {
			s.opt.afterStep(st.name, s.dirs())
		}
	}
	return nil
}

func (s *story) steps() []step {
	return []step{
		{"volumes", s.makeVolumes},
		{"hosts", s.startHosts},
		{"enable", s.enable},
		{"initial", s.initialReplication},
		{"extend", s.extend},
		{"cycles", s.runCycles},
		{"points", s.listPoints},
		{"test-failover", s.testFailover},
		{"planned-failover", s.plannedFailover},
		{"unplanned-failover", s.unplannedFailover},
		{"reverse", s.reverseUnplanned},
		{"end", s.end},
	}
}

// dirs names the run's directories for the test hook.
func (s *story) dirs() storyDirs {
	d := storyDirs{Root: s.root, Volumes: s.root + "/volumes", Stores: make(map[string]string)}
	for _, h := range s.hosts {
		d.Stores[h.name] = h.storeDir
	}
	return d
}

// total is the group's size in bytes.
func (s *story) total() int64 {
	var n int64
	for _, sz := range s.sizes {
		n += sz
	}
	return n
}

// primaryVolumes returns the current primary's volumes, tracked, for the
// writer to write and the final check to read.
func (s *story) primaryVolumes() ([]io.WriterAt, []io.ReaderAt) {
	w := make([]io.WriterAt, s.rel.Volumes())
	r := make([]io.ReaderAt, s.rel.Volumes())
	for i := range w {
		w[i], r[i] = s.rel.Volume(i), s.rel.Volume(i)
	}
	return w, r
}

// cycle runs one cycle of the current relationship now and checks that
// its point is the primary's image after a prefix of the writer's writes,
// and that it sent no block the writer did not write.
func (s *story) cycle(ctx context.Context) (replica.CycleResult, error) {
	res, mr, err := s.runCycle(ctx)
	if err != nil {
		return res, err
	}
	if res.Blocks > mr.Touched {
		s.rep.fail("sent %d blocks, but the writer touched only %d since the last point", res.Blocks, mr.Touched)
		return res, fmt.Errorf("cycle %d sent more than was written: %w", s.cycles, errMismatch)
	}
	return res, nil
}

// runCycle runs one cycle, prints it and matches its point with the model.
func (s *story) runCycle(ctx context.Context) (replica.CycleResult, matchResult, error) {
	res, err := s.rel.Cycle(ctx)
	if err != nil {
		return res, matchResult{}, fmt.Errorf("cycle %s → %s: %w", s.primary.name, s.replica.name, err)
	}
	s.cycles++
	s.sent += res.StreamBytes
	s.rep.step("cycle %-3d %s → %s  point %s  %4d blocks  %9s delta in %s",
		s.cycles, s.primary.name, s.replica.name, shortID(res.Point), res.Blocks, formatBytes(res.StreamBytes), formatDuration(res.Latency))
	mr, err := s.m.match(res.Point, res.Hash)
	if err != nil {
		s.rep.fail("cycle %d: %v", s.cycles, err)
		return res, mr, fmt.Errorf("cycle %d: %w", s.cycles, errMismatch)
	}
	s.rep.ok("point = primary's image at the freeze, after %d of the %d writes since the last one", mr.Writes, mr.Writes+mr.Left)
	return res, mr, nil
}

// pace waits until the next cycle is due: start + n intervals.
func (s *story) pace(ctx context.Context, start time.Time, n int) error {
	if s.opt.Every <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(time.Until(start.Add(time.Duration(n) * s.opt.Every)))
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

func (s *story) closeVolumes() error {
	var errs []error
	for _, v := range s.vols {
		errs = append(errs, v.File.Close())
	}
	s.vols = nil
	return errors.Join(errs...)
}

// stopIfAny stops the writer when there is one.
func (w *writer) stopIfAny() error {
	if w == nil {
		return nil
	}
	return w.stop()
}
