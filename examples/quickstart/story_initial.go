package main

import (
	"context"
	"fmt"
	"time"

	"github.com/blockrep/blockrep/checkpoint"
	"github.com/blockrep/blockrep/replica"
)

// retained is how many recovery points the replicas keep besides the latest.
const retained = 6

// retention keeps the latest point and retained older ones, one per cycle
// interval: Hyper-V Replica's hourly points, at the speed of this run.
func (s *story) retention() checkpoint.Retention {
	spacing := s.opt.Every
	if spacing <= 0 {
		spacing = time.Nanosecond // back-to-back cycles: one slot per point
	}
	return checkpoint.Retention{Additional: retained, Spacing: spacing}
}

// enable configures the group on hv1 to replicate to hv2.
func (s *story) enable(ctx context.Context) error {
	vols := make([]replica.VolumeConfig, len(s.vols))
	for i, v := range s.vols {
		vols[i] = replica.VolumeConfig{Name: v.Name, Volume: v.File, Size: v.Size}
	}
	start := time.Now()
	rel, err := s.hv1.ph.Enable(ctx, replica.GroupConfig{
		ID:               s.group,
		Volumes:          vols,
		Metadata:         []byte(`{"vm":"quickstart","memory_mib":2048}`),
		FailoverSettings: []byte(`{"ip":"10.0.0.42"}`),
		Replica:          s.hv2.addr,
		Frequency:        replica.MinFrequency,
		Retention:        s.retention(),
		BlockSize:        s.blockSize,
		Initial:          replica.InitialReplication{Progress: s.rep.progress("initial copy")},
	})
	if err != nil {
		return fmt.Errorf("enable: %w", err)
	}
	s.rel, s.primary, s.replica = rel, s.hv1, s.hv2
	s.rep.step("enable    group %s on hv1 → hv2: %d volumes, %s blocks, %d older points kept; state %s (%s)",
		s.group, len(vols), formatBytes(int64(s.blockSize)), retained, rel.State(), formatDuration(time.Since(start)))
	return nil
}

// initialReplication sends the first full copy, with a progress bar, and
// checks the replica's first point twice: its content hash against the
// model, and its data, read back from hv2's store and hashed.
func (s *story) initialReplication(ctx context.Context) error {
	s.rep.step("initial   replication hv1 → hv2 (every block that is not zero)")
	start := time.Now()
	res, err := s.rel.InitialReplication(ctx)
	if err != nil {
		return fmt.Errorf("initial replication: %w", err)
	}
	took := time.Since(start)
	if _, err := s.m.match(res.Point, res.Hash); err != nil {
		s.rep.fail("initial point: %v", err)
		return fmt.Errorf("initial replication: %w", errMismatch)
	}
	s.rep.detail("point %s: %d blocks, %s delta for %s of volumes, in %s (%s); state %s",
		shortID(res.Point), res.Blocks, formatBytes(res.StreamBytes), formatBytes(s.total()), formatDuration(took), formatRate(res.StreamBytes, took), s.rel.State())
	want, _ := s.m.point(res.Point)
	return s.verifyPoint(ctx, s.hv2, res.Point, want, "hv2's first point, read back from its store")
}
