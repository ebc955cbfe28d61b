package main

import (
	"context"
	"strings"

	"github.com/blockrep/blockrep/checkpoint"
	"github.com/blockrep/blockrep/replica"
)

// end stops the writer, checks the primary's volumes against the model one
// last time, and prints the statistics and health of the relationship the
// story ended with, of the extension and of every host's group.
func (s *story) end(ctx context.Context) error {
	if err := s.w.stop(); err != nil {
		return err
	}
	_, vols := s.primaryVolumes()
	s.rep.step("last      check: the writer stops after %d writes in all; %d cycles sent %s of deltas", s.m.writes(), s.cycles, formatBytes(s.sent))
	if err := s.verify(ctx, s.primary.name+"'s volumes, the primary's now (the model checked against them)", vols, s.m.current()); err != nil {
		return err
	}
	if err := s.forwardAtLast(ctx); err != nil {
		return err
	}
	st := s.rel.Stats()
	s.rep.step("stats     %s → %s, since %s: state %s", s.primary.name, s.replica.name, st.WindowStart.Local().Format("15:04:05"), st.State)
	s.rep.detail("cycles: %d successful, %d missed, %d errors; last point %.8s at %s",
		st.SuccessfulCycles, st.MissedCycles, st.Errors, st.LastPoint, st.LastReplication.Local().Format("15:04:05.000"))
	s.rep.detail("delta size: average %s, maximum %s; latency: average %s, maximum %s; pending %s",
		formatBytes(st.AverageDeltaBytes), formatBytes(st.MaximumDeltaBytes), formatDuration(st.AverageLatency), formatDuration(st.MaximumLatency), formatBytes(st.PendingBytes))
	if st.LastError != "" {
		s.rep.detail("last error: %s", st.LastError)
	}
	s.rep.step("health    %s → %s: %s", s.primary.name, s.replica.name, healthLine(s.rel.Health()))
	for _, e := range s.hv2.rh.Extensions() {
		s.rep.step("extended  hv2 → hv3: %d forwards, %d errors, %s sent; last point %s; health %s",
			e.Successes, e.Errors, formatBytes(e.Bytes), shortID(e.LastPoint), healthLine(e.Health))
	}
	for _, h := range s.hosts {
		g, err := h.rh.Group(ctx, s.group)
		if err != nil {
			continue
		}
		role := ""
		if h == s.primary {
			role = " — the store under the primary's writable clone"
		}
		s.rep.detail("%s keeps %s: %s, %d point(s)%s", h.name, s.group, g.State, len(g.Points), role)
	}
	return nil
}

// forwardAtLast has hv2 — the primary for a while, a replica again since
// the last reversal — forward its latest point to hv3, which carries on from
// the point it had before the failovers, and reads hv3's copy back.
func (s *story) forwardAtLast(ctx context.Context) error {
	s.rep.step("extended  hv2 is a replica again: it forwards to hv3 from the point hv3 has, across the failovers")
	if err := s.forward(ctx); err != nil {
		return err
	}
	points, err := s.checkpointPoints(ctx, s.hv3)
	if err != nil {
		return err
	}
	latest := points[len(points)-1]
	want, _ := s.m.point(latest.ID)
	return s.verifyPoint(ctx, s.hv3, latest.ID, want, "hv3's latest point, read back from its store")
}

// healthLine writes a health with its reasons.
func healthLine(h replica.Health) string {
	if len(h.Reasons) == 0 {
		return h.Level.String()
	}
	return h.Level.String() + " — " + strings.Join(h.Reasons, "; ")
}

// samePoints reports whether two chains name the same points with the same
// content, in the same order.
func samePoints(a, b []checkpoint.Point) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i].ID != b[i].ID || a[i].Hash != b[i].Hash {
			return false
		}
	}
	return true
}
