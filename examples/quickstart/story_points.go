package main

import (
	"context"
	"fmt"

	"github.com/blockrep/blockrep/checkpoint"
)

// listPoints prints the chains of recovery points of the replica and the
// extended replica, checks each point's recorded content hash against the
// image the model kept for it, and reads each latest point's data back from
// its store.
func (s *story) listPoints(ctx context.Context) error {
	for _, h := range []*host{s.hv2, s.hv3} {
		points, err := s.checkpointPoints(ctx, h)
		if err != nil {
			return err
		}
		s.rep.step("points    %d recovery points of %s on %s (oldest first; retention keeps the latest + %d):", len(points), s.group, h.name, retained)
		for _, p := range points {
			if err := s.checkRecorded(h, p); err != nil {
				return err
			}
		}
		latest := points[len(points)-1]
		want, _ := s.m.point(latest.ID)
		if err := s.verifyPoint(ctx, h, latest.ID, want, fmt.Sprintf("%s's latest point %s, read back from its store", h.name, shortID(latest.ID))); err != nil {
			return err
		}
	}
	return nil
}

// checkRecorded prints one point and checks that the content hash its
// store recorded is the one of the image the model kept for it.
func (s *story) checkRecorded(h *host, p checkpoint.Point) error {
	var blocks int64
	for _, c := range p.Changed {
		if c != nil {
			blocks += c.Count()
		}
	}
	line := fmt.Sprintf("%s  %s  %-5s  %9s delta  %4d blocks changed  content %s",
		shortID(p.ID), p.Time.Local().Format("15:04:05.000"), p.Consistency, formatBytes(p.Size), blocks, shortHash(p.Hash))
	im, ok := s.m.point(p.ID)
	switch {
	case !ok:
		s.rep.fail("%s: not a point this run made", line)
		return fmt.Errorf("%s holds point %s that no cycle made: %w", h.name, shortID(p.ID), errMismatch)
	case im.root() != p.Hash:
		s.rep.fail("%s: the primary's image at its freeze was %s", line, shortHash(im.root()))
		return fmt.Errorf("%s's point %s: %w", h.name, shortID(p.ID), errMismatch)
	}
	s.rep.ok("%s = primary's image at its freeze", line)
	return nil
}
