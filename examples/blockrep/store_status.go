package main

import (
	"context"
	"fmt"
	"time"

	"github.com/blockrep/blockrep/replica"
)

// replicaStatus is one group of "blockrep status --store DIR --json".
type replicaStatus struct {
	Group       string         `json:"group"`
	Role        string         `json:"role"` // replica
	State       replica.State  `json:"state"`
	Health      replica.Health `json:"health"`
	Volumes     []volumeJSON   `json:"volumes"`
	BlockSize   int            `json:"block_size"`
	Points      int            `json:"points"`
	LatestPoint string         `json:"latest_point,omitempty"`
	LatestTime  time.Time      `json:"latest_time,omitzero"`
	LastContact time.Time      `json:"last_contact,omitzero"`
	Served      bool           `json:"served"` // a blockrep serve holds the store
	// Reverse is set for a group this store's serve replicates as its
	// primary after a failover.
	Reverse *reverseStatus `json:"reverse,omitempty"`
	// Extension is set for a group forwarded to a further replica.
	Extension *extensionJSON `json:"extension,omitempty"`
}

// extensionJSON is replica.ExtensionStatus with snake_case names
// throughout (the library's retention has none).
type extensionJSON struct {
	Replica          string         `json:"replica"`
	Frequency        string         `json:"frequency"`
	RetentionPoints  int            `json:"retention_points"`
	RetentionSpacing string         `json:"retention_spacing"`
	LastPoint        string         `json:"last_point,omitempty"`
	LastPointTime    time.Time      `json:"last_point_time,omitzero"`
	LastForward      time.Time      `json:"last_forward,omitzero"`
	Successes        int64          `json:"successes"`
	Errors           int64          `json:"errors"`
	Bytes            int64          `json:"bytes"`
	LastError        string         `json:"last_error,omitempty"`
	Health           replica.Health `json:"health"`
}

func extensionOf(e replica.ExtensionStatus) *extensionJSON {
	x := &extensionJSON{Replica: e.Replica, Frequency: e.Frequency.String(), RetentionPoints: e.Retention.Additional,
		RetentionSpacing: e.Retention.Spacing.String(), LastPointTime: e.LastPointTime, LastForward: e.LastForward,
		Successes: e.Successes, Errors: e.Errors, Bytes: e.Bytes, LastError: e.LastError, Health: e.Health}
	if !e.LastPoint.IsZero() {
		x.LastPoint = e.LastPoint.String()
	}
	return x
}

// reverseStatus is the primary side of a reversed group.
type reverseStatus struct {
	Replica    string         `json:"replica"`
	State      replica.State  `json:"state"`
	Health     replica.Health `json:"health"`
	Statistics replica.Stats  `json:"statistics"`
}

type volumeJSON struct {
	Name string `json:"name"`
	Size int64  `json:"size"`
}

func (h *storeHost) status(ctx context.Context, group string) ([]replicaStatus, error) {
	ids := []string{group}
	if group == "" {
		var err error
		if ids, err = h.rh.Groups(ctx); err != nil {
			return nil, err
		}
	}
	out := make([]replicaStatus, 0, len(ids))
	for _, id := range ids {
		g, err := h.rh.Group(ctx, id)
		if err != nil {
			return nil, err
		}
		s := replicaStatus{Group: id, Role: "replica", State: g.State, BlockSize: g.BlockSize,
			Points: len(g.Points), LastContact: g.LastContact.UTC(), Served: h.served}
		if g.LastContact.IsZero() {
			s.LastContact = time.Time{}
		}
		for _, v := range g.Volumes {
			s.Volumes = append(s.Volumes, volumeJSON{Name: v.ID, Size: v.Size})
		}
		if n := len(g.Points); n > 0 {
			s.LatestPoint = g.Points[n-1].ID.String()
			s.LatestTime = g.Points[n-1].Time.UTC()
		}
		s.Health = replicaHealth(g, time.Now())
		if h.ph != nil {
			if rel, err := h.ph.Relationship(id); err == nil {
				s.Reverse = &reverseStatus{State: rel.State(), Health: rel.Health(), Statistics: rel.Stats()}
				if recs, err := loadReverses(h.dir); err == nil {
					for _, r := range recs {
						if r.Group == id {
							s.Reverse.Replica = r.To
						}
					}
				}
			}
		}
		if h.served {
			for _, e := range h.rh.Extensions() {
				if e.Group == id {
					s.Extension = extensionOf(e)
				}
			}
		}
		out = append(out, s)
	}
	return out, nil
}

// replicaHealth judges a replica group: Critical without any point,
// Warning while failed over and waiting for completion or when the latest
// point is older than replica.MaxTimeSinceSuccess.
func replicaHealth(g replica.ReplicaGroup, now time.Time) replica.Health {
	var h replica.Health
	switch g.State {
	case replica.FailedOverWaitingCompletion:
		h.Level = replica.Warning
		h.Reasons = append(h.Reasons, "failed over, waiting for completion or cancellation")
	case replica.TestFailoverRunning:
		h.Reasons = append(h.Reasons, "a test failover is running")
	case replica.FailedOver:
		h.Reasons = append(h.Reasons, "failed over: this copy is the group's primary image")
	}
	if len(g.Points) == 0 {
		h.Level = replica.Critical
		h.Reasons = append([]string{"no recovery point yet"}, h.Reasons...)
		return h
	}
	latest := g.Points[len(g.Points)-1].Time
	if d := now.Sub(latest); g.State == replica.Replicating && d > replica.MaxTimeSinceSuccess {
		h.Level = max(h.Level, replica.Warning)
		h.Reasons = append(h.Reasons, fmt.Sprintf("latest point is %s old", d.Truncate(time.Second)))
	}
	return h
}
