package main

import (
	"context"
	"fmt"
	"time"

	"github.com/blockrep/blockrep/replica"
)

// testFailover starts a test failover on the oldest point of the replica's
// chain while the writer and the cycles go on: the clone must hold that
// point's image, take writes, and leave the point and replication alone.
func (s *story) testFailover(ctx context.Context) error {
	points, err := s.checkpointPoints(ctx, s.replica)
	if err != nil {
		return err
	}
	if len(points) < 2 {
		return fmt.Errorf("test failover: %s has %d point, want an older one", s.replica.name, len(points))
	}
	p := points[0]
	start := time.Now()
	tf, err := s.replica.rh.StartTestFailover(ctx, s.group, replica.SelectPoint(p.ID))
	if err != nil {
		return fmt.Errorf("start test failover: %w", err)
	}
	stopped := false
	defer func() {
		if !stopped {
			_ = s.replica.rh.StopTestFailover(context.WithoutCancel(ctx), s.group)
		}
	}()
	g, err := s.replica.rh.Group(ctx, s.group)
	if err != nil {
		return err
	}
	s.rep.step("test      failover on %s to point %s (%d older than the latest), started in %s; group %s",
		s.replica.name, shortID(p.ID), len(points)-1, formatDuration(time.Since(start)), g.State)
	s.rep.detail("metadata %s, failover settings %s", tf.Metadata(), tf.FailoverSettings())
	want, _ := s.m.point(p.ID)
	if err := s.verify(ctx, "test failover's clone", readers(tf.Volumes()), want); err != nil {
		return err
	}
	const written = 16
	if err := s.w.writeBlocks(writersOf(tf.Volumes()), want, written); err != nil {
		return fmt.Errorf("write to the test failover: %w", err)
	}
	if err := s.verify(ctx, fmt.Sprintf("clone after %d writes to it", written), readers(tf.Volumes()), want); err != nil {
		return err
	}

	s.rep.step("test      replication goes on meanwhile:")
	if err := s.cycleLoop(ctx, 2, nil); err != nil {
		return err
	}
	after, err := s.checkpointPoints(ctx, s.replica)
	if err != nil {
		return err
	}
	kept := false
	for _, q := range after {
		if q.ID == p.ID {
			kept = true
			if err := s.checkRecorded(s.replica, q); err != nil {
				return err
			}
		}
	}
	if !kept {
		s.rep.fail("point %s was pruned while its test failover ran", shortID(p.ID))
		return fmt.Errorf("test failover's point pruned: %w", errMismatch)
	}
	orig, _ := s.m.point(p.ID)
	if err := s.verifyPoint(ctx, s.replica, p.ID, orig, "the point itself, untouched by the clone's writes"); err != nil {
		return err
	}
	stopped = true
	if err := s.replica.rh.StopTestFailover(ctx, s.group); err != nil {
		return fmt.Errorf("stop test failover: %w", err)
	}
	g, err = s.replica.rh.Group(ctx, s.group)
	if err != nil {
		return err
	}
	s.rep.step("test      failover stopped, clone discarded; group %s with %d points", g.State, len(g.Points))
	return nil
}
