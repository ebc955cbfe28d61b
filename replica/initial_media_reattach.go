package replica

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/blockrep/blockrep/delta"
)

// ReattachExported re-establishes, after a restart of the primary host, a
// relationship whose Media initial replication had exported point
// exported (Relationship.ExportedPoint before the restart, with its
// instant at) and was waiting for its import on the replica. The
// relationship is InitialReplicationInProgress, awaiting the import as
// before: Run asks the replica's status with back-off, and once the
// replica holds the exported point the relationship is Replicating.
//
// Change tracking is reopened from cfg.TrackerState, so the writes made
// since the export's freeze are the first cycle's. When the state file is
// missing or unusable (delta.ErrTrackingLost), or the group had no
// persistent tracking, which blocks changed since the export is unknown:
// the relationship still waits for the import, then becomes
// ResynchronizationRequired instead of Replicating. Like Reattach, it does
// not contact the replica. cfg.Initial.Mode must be Media.
func (p *PrimaryHost) ReattachExported(ctx context.Context, cfg GroupConfig, exported delta.PointID, at time.Time) (*Relationship, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.Initial.Mode != Media || exported.IsZero() {
		return nil, fmt.Errorf("%w: group %q: ReattachExported needs Initial.Mode Media and the exported point", ErrInvalidConfig, cfg.ID)
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	lost := false
	r, err := p.newRelationship(cfg, func(geoms []delta.Geometry, opts []delta.TrackerOption) (*delta.Tracker, error) {
		if cfg.TrackerState == nil {
			lost = true
			return delta.NewTracker(geoms, opts...)
		}
		t, err := delta.OpenTrackerFile(cfg.TrackerState, geoms, opts...)
		if errors.Is(err, delta.ErrTrackingLost) {
			lost = true
			return delta.CreateTrackerFile(cfg.TrackerState, geoms, opts...)
		}
		return t, err
	})
	if err != nil {
		return nil, err
	}
	r.init = initialState{exported: exported, exportedAt: at, trackingLost: lost}
	if err := r.transition("reattach awaiting import", InitialReplicationInProgress); err != nil {
		r.tracker.Close()
		return nil, err
	}
	if err := p.add(r); err != nil {
		r.tracker.Close()
		return nil, err
	}
	r.log.Info("relationship reattached, awaiting the import of its export", "point", exported, "tracking_lost", lost)
	return r, nil
}
