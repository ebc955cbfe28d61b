package main

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/blockrep/blockrep/replica"
)

// reverseFile records the groups this store's serve replicates as their
// primary after a failover (ReplicaHost.Reverse), so that a restarted
// serve resumes them. Like extendFile it sits beside the store's layout.
const reverseFile = "blockrep-reverse.json"

// reverseRecord is one reversed group.
type reverseRecord = hopRecord

func loadReverses(dir string) ([]reverseRecord, error) { return loadHops(dir, reverseFile) }

func saveReverses(dir string, recs []reverseRecord) error { return saveHops(dir, reverseFile, recs) }

// reverseResult is what a reverse request did.
type reverseResult struct {
	Group string `json:"group"`
	To    string `json:"to"`
	Every string `json:"every"`
	State string `json:"state"`
}

// reverse makes serve the group's primary, replicating to the old
// primary's serve at to, and records it.
func (h *storeHost) reverse(ctx context.Context, group, to string, every time.Duration) (reverseResult, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	res := reverseResult{Group: group, To: to}
	if every == 0 {
		every = replica.DefaultFrequency
	}
	res.Every = every.String()
	recs, err := loadReverses(h.dir)
	if err != nil {
		return res, err
	}
	if slices.ContainsFunc(recs, func(r reverseRecord) bool { return r.Group == group }) {
		return res, fmt.Errorf("group %s is reversed already", group)
	}
	rec := reverseRecord{Group: group, To: to, Every: duration(every)}
	rel, err := h.startReverse(ctx, rec)
	if err != nil {
		return res, err
	}
	res.State = rel.State().String()
	return res, saveReverses(h.dir, append(recs, rec))
}

func (h *storeHost) startReverse(ctx context.Context, rec reverseRecord) (*replica.Relationship, error) {
	g, err := h.rh.Group(ctx, rec.Group)
	if err != nil {
		return nil, err
	}
	return h.rh.Reverse(ctx, rec.Group, h.ph, replica.ReverseConfig{
		Replica:   rec.To,
		Frequency: time.Duration(rec.Every),
		Retention: g.Retention,
	})
}

// startReverses resumes every recorded reversed group (serve, at start).
// Such a relationship starts ResynchronizationRequired (what reached the
// old primary is not known here): resyncReverses brings it back.
func (h *storeHost) startReverses(ctx context.Context) error {
	recs, err := loadReverses(h.dir)
	if err != nil {
		return err
	}
	for _, r := range recs {
		if _, err := h.startReverse(ctx, r); err != nil {
			return fmt.Errorf("reverse replication of %s to %s: %w", r.Group, r.To, err)
		}
	}
	return nil
}

// forgetReverse drops a group's record once it is no longer reversed here
// (a planned failover handed it back).
func (h *storeHost) forgetReverse(group string) error {
	recs, err := loadReverses(h.dir)
	if err != nil {
		return err
	}
	i := slices.IndexFunc(recs, func(r reverseRecord) bool { return r.Group == group })
	if i < 0 {
		return nil
	}
	return saveReverses(h.dir, slices.Delete(recs, i, i+1))
}

// syncReversed runs one cycle of a reversed group now.
func (h *storeHost) syncReversed(ctx context.Context, group string) (syncResult, error) {
	start := time.Now()
	rel, err := h.ph.Relationship(group)
	if err != nil {
		return syncResult{}, fmt.Errorf("group %s is not replicated from this store (blockrep reverse): %w", group, err)
	}
	if rel.State() == replica.ResynchronizationRequired {
		// Resumed by a restarted serve: what the old primary holds is
		// found by comparing hashes.
		rs, err := rel.Resynchronize(ctx)
		if err != nil {
			return syncResult{}, err
		}
		return syncResult{Group: group, Point: rs.Point.String(), Blocks: rs.Blocks, BytesSent: rs.StreamBytes,
			DurationMS: time.Since(start).Milliseconds()}, nil
	}
	res, err := rel.Cycle(ctx)
	if err != nil {
		return syncResult{}, err
	}
	return syncResult{Group: group, Point: res.Point.String(), Blocks: res.Blocks, BytesSent: res.StreamBytes,
		DurationMS: time.Since(start).Milliseconds()}, nil
}

// planned hands a reversed group back: a planned failover to the old
// primary's serve (which the promotion asks to reverse toward reverseTo,
// this serve), then this store takes the group back as its replica.
func (h *storeHost) planned(ctx context.Context, group, reverseTo string) (plannedResult, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	rel, err := h.ph.Relationship(group)
	if err != nil {
		return plannedResult{}, fmt.Errorf("group %s is not replicated from this store: %w", group, err)
	}
	var opts []replica.PlannedFailoverOption
	if reverseTo != "" {
		opts = append(opts, replica.WithReverseTo(reverseTo))
	}
	res, err := rel.PlannedFailover(ctx, opts...)
	if err != nil {
		return plannedResult{}, err
	}
	if err := h.ph.Demote(ctx, group, h.rh); err != nil {
		return plannedResult{}, fmt.Errorf("promoted the replica at %s, but taking the group back here failed: %w", res.Point, err)
	}
	return plannedResult{Group: group, Point: res.Point.String(), Blocks: res.Blocks, BytesSent: res.StreamBytes, Store: h.dir},
		h.forgetReverse(group)
}

// plannedResult is what a planned failover did.
type plannedResult struct {
	Group     string `json:"group"`
	Point     string `json:"point"`      // the final point, on both sides
	Blocks    int64  `json:"blocks"`     // blocks the final cycle sent
	BytesSent int64  `json:"bytes_sent"` // bytes of its delta
	Store     string `json:"store"`      // where this host now keeps the group as a replica
}

// resyncReverses resynchronizes, one after the other, the reversed groups
// that require it, retrying each minute until ctx is done (serve runs it
// on a goroutine of its own).
func (h *storeHost) resyncReverses(ctx context.Context, report func(group string, err error)) {
	for {
		pending := false
		recs, err := loadReverses(h.dir)
		if err != nil {
			report("", err)
			return
		}
		for _, r := range recs {
			rel, err := h.ph.Relationship(r.Group)
			if err != nil || rel.State() != replica.ResynchronizationRequired {
				continue
			}
			if _, err := rel.Resynchronize(ctx); err != nil {
				if ctx.Err() != nil {
					return
				}
				pending = true
				report(r.Group, err)
			}
		}
		if !pending {
			return
		}
		t := time.NewTimer(time.Minute)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
	}
}
