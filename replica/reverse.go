package replica

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/blockrep/blockrep/checkpoint"
	"github.com/blockrep/blockrep/delta"
)

// ReverseConfig configures the relationship ReplicaHost.Reverse creates.
// The group's id, volumes, block size, metadata and failover settings come
// from the group itself.
type ReverseConfig struct {
	// Replica is the address of the old primary's ReplicaHost, dialed with
	// the PrimaryHost's transport. Required.
	Replica string
	// Frequency, Retention, AppConsistentInterval, Quiesce and
	// NoCompression are as in GroupConfig.
	Frequency             time.Duration
	Retention             checkpoint.Retention
	AppConsistentInterval time.Duration
	Quiesce               QuiesceFunc
	NoCompression         bool
	// TrackerState, when set, makes the new primary's change tracking
	// persistent (GroupConfig.TrackerState).
	TrackerState delta.StateFile
	// Progress, when set, hears of the first synchronization's progress
	// after an unplanned failover (bytes done, bytes in all).
	Progress func(done, total int64)
}

// Reverse makes this host the group's primary after a failover: the group
// must be FailedOver here (an unplanned failover completed, or a planned
// failover promoted it). It creates on p a relationship whose volumes are
// a writable copy-on-write clone (named "primary") of the group's latest
// point, whose last point is that point, and which replicates to
// cfg.Replica, the old primary's ReplicaHost. The host writes through
// rel.Volume(i) from then on; the group's chain here stays as it was.
//
// Reverse does not contact the old primary: its side is asked for by the
// relationship's first cycle (Cycle, or Run at the frequency), which
// sends only what changed on either side since the last common point:
//
//   - after a planned failover and Demote, the old primary's store is at
//     this very point: cycles go on at once, no resync, no hash comparison;
//   - after an unplanned failover, the old primary's store holds the seed
//     its Demote stored and the blocks written there since its last
//     acknowledged point. When that point is the failover's base (or this
//     point), the first cycle sends, whole, the blocks the failover
//     changed, those written here since and those of the seed's map, on
//     the seed as base, and checks the content hash of the result against
//     this side's image at the freeze; a difference, or a side whose map
//     was lost, makes it a resynchronization by hash comparison instead;
//   - when the old primary's last point is neither, or the volumes differ,
//     the cycle fails with ErrNoCommonPoint and changes nothing;
//   - when the old primary's host still has a relationship of the group (it
//     never demoted), its ReplicaHost (with ReplicaConfig.Primary set)
//     refuses: the cycle fails with ErrSplitBrain.
//
// Errors: ErrUnknownGroup; a *StateError unless FailedOver; ErrGroupExists
// when p has a relationship of the group or the group is reversed
// already; ErrInvalidConfig; the store's errors. On error nothing changed.
// Writes to the clone survive a crash or restart once Relationship.Sync
// returned: a Reverse after a restart (or after the relationship was
// removed) reopens the clone with them, and the relationship starts
// ResynchronizationRequired, since what reached the other side is not known
// here (Resynchronize compares hashes; nothing is copied whole).
func (h *ReplicaHost) Reverse(ctx context.Context, group string, p *PrimaryHost, cfg ReverseConfig) (*Relationship, error) {
	if p == nil {
		return nil, fmt.Errorf("%w: Reverse without a PrimaryHost", ErrInvalidConfig)
	}
	g, err := h.openGroup(ctx, group)
	if err != nil {
		return nil, err
	}
	h.mu.Lock()
	if st := h.stateLocked(group); st != FailedOver {
		h.mu.Unlock()
		return nil, &StateError{Op: "reverse", From: st}
	}
	if side, ok := h.roles.reverse[group]; ok {
		if side == nil || !side.rel.removed() {
			h.mu.Unlock()
			return nil, fmt.Errorf("%w: group %q is reversed already", ErrGroupExists, group)
		}
		// Its relationship was removed from its PrimaryHost: reverse anew
		// (cloneFresh discards the old clone).
		delete(h.roles.reverse, group)
	}
	if h.roles.reverse == nil {
		h.roles.reverse = make(map[string]*reverseSide)
	}
	h.roles.reverse[group] = nil // reserved while the relationship is made
	h.mu.Unlock()

	r, err := h.reverse(ctx, g, p, cfg)
	h.mu.Lock()
	defer h.mu.Unlock()
	if err != nil {
		delete(h.roles.reverse, group)
		return nil, err
	}
	h.roles.reverse[group] = r.roles.side
	return r, nil
}

func (h *ReplicaHost) reverse(ctx context.Context, g checkpoint.Group, p *PrimaryHost, cfg ReverseConfig) (*Relationship, error) {
	id := g.ID()
	if _, err := p.Relationship(id); err == nil {
		return nil, fmt.Errorf("%w: %q already has a relationship on this primary host", ErrGroupExists, id)
	}
	latest, err := g.Latest(ctx)
	if err != nil {
		return nil, err
	}
	spec := g.Spec()
	rec, err := decodeRecord(spec.Meta)
	if err != nil {
		rec = groupRecord{Meta: spec.Meta, Role: groupRole{State: FailedOver}}
	}
	gc := GroupConfig{
		ID:                    id,
		Metadata:              rec.Meta,
		FailoverSettings:      rec.Failover,
		Replica:               cfg.Replica,
		Frequency:             cfg.Frequency,
		Retention:             cfg.Retention,
		AppConsistentInterval: cfg.AppConsistentInterval,
		Quiesce:               cfg.Quiesce,
		NoCompression:         cfg.NoCompression,
		BlockSize:             spec.BlockSize,
		TrackerState:          cfg.TrackerState,
		Initial:               InitialReplication{Progress: cfg.Progress},
	}
	if cfg.Replica == "" {
		return nil, fmt.Errorf("%w: ReverseConfig.Replica is empty", ErrInvalidConfig)
	}
	geoms := spec.Geometries()
	clone, reopened, err := h.reverseCloneOf(ctx, g, latest)
	if err != nil {
		return nil, err
	}
	var written []*delta.Set
	if reopened {
		written = clone.WrittenBlocks()
	}
	side := &reverseSide{h: h, clone: clone, point: latest}
	for i, v := range clone.Volumes() {
		wv := &writtenVolume{v: v, geo: geoms[i], written: delta.NewSet(geoms[i].Blocks())}
		if i < len(written) && written[i] != nil && written[i].Len() == geoms[i].Blocks() {
			wv.written = written[i].Clone()
		}
		side.vols = append(side.vols, wv)
		gc.Volumes = append(gc.Volumes, VolumeConfig{Name: spec.Volumes[i].ID, Volume: wv, Size: spec.Volumes[i].Size})
	}
	if err := gc.Validate(); err != nil {
		clone.Discard(ctx)
		return nil, err
	}
	r, err := p.newRelationship(gc, func(geoms []delta.Geometry, opts []delta.TrackerOption) (*delta.Tracker, error) {
		if gc.TrackerState != nil {
			return delta.CreateTrackerFile(gc.TrackerState, geoms, opts...)
		}
		return delta.NewTracker(geoms, opts...)
	})
	if err != nil {
		clone.Discard(ctx)
		return nil, err
	}
	side.rel = r
	r.lastPoint, r.lastTime, r.lastHash = latest.ID, latest.Time, latest.Hash
	if latest.Consistency == delta.ConsistencyApp {
		r.lastApp = latest.Time
	}
	ours := rec.Role.Changes
	if rec.Role.Point != latest.ID || ours.Kind == changesNone {
		ours = changeMap{Kind: changesUnknown}
	}
	r.roles.side = side
	to := Replicating
	if reopened {
		// What the clone's writes since the point have reached on the other
		// side is not known here: compare hashes.
		to = ResynchronizationRequired
	} else {
		r.roles.pending = &reversePending{point: latest, ours: ours}
	}
	if err := r.transition("reverse", to); err != nil {
		r.tracker.Close()
		clone.Discard(ctx)
		return nil, err
	}
	if err := p.add(r); err != nil {
		r.tracker.Close()
		clone.Discard(ctx)
		return nil, err
	}
	r.log.Info("reverse replication set up", "point", latest.ID, "replica", cfg.Replica, "promoted", rec.Role.Promoted, "reopened", reopened)
	return r, nil
}

// reverseCloneOf returns the clone a reverse relationship writes through:
// the one an earlier Reverse left (reopened with the writes its last Sync
// made durable, reopened true), or a new clone of latest.
func (h *ReplicaHost) reverseCloneOf(ctx context.Context, g checkpoint.Group, latest checkpoint.Point) (checkpoint.Clone, bool, error) {
	names, err := g.Clones(ctx)
	if err != nil {
		return nil, false, err
	}
	if slices.Contains(names, reverseClone) {
		c, err := g.OpenClone(ctx, reverseClone)
		switch {
		case err == nil && c.Point().ID == latest.ID:
			return c, true, nil
		case err == nil, errors.Is(err, checkpoint.ErrUnknownClone):
			// Of another point, or what an interrupted Clone left:
			// cloneFresh discards it.
		default:
			return nil, false, err
		}
	}
	c, err := h.cloneFresh(ctx, g, latest, reverseClone)
	return c, false, err
}

// Sync makes the writes made through Volume durable where the
// relationship's volumes need it: a relationship made by
// ReplicaHost.Reverse writes to a clone in the replica host's store, and
// once Sync returned its writes survive a crash or restart (a later
// Reverse reopens the clone; the relationship is then
// ResynchronizationRequired). For any other relationship the volumes are
// the host's own and Sync does nothing. After Remove it returns ErrClosed.
func (r *Relationship) Sync() error {
	if r.removed() {
		return ErrClosed
	}
	if side := r.roles.side; side != nil {
		return side.clone.Sync()
	}
	return nil
}

// removed reports whether the relationship was removed or its host closed.
func (r *Relationship) removed() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.closed
}

// writtenVolume is a volume of a reverse relationship's clone: it records
// which blocks were written, so that a later Demote commits exactly those
// into the store (failback).
type writtenVolume struct {
	v   checkpoint.VolumeReadWriter
	geo delta.Geometry

	mu      sync.Mutex
	written *delta.Set
}

func (w *writtenVolume) ReadAt(p []byte, off int64) (int, error) { return w.v.ReadAt(p, off) }

// WriteAt records the blocks, then writes to the clone's overlay.
func (w *writtenVolume) WriteAt(p []byte, off int64) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	first, last, ok := w.geo.Span(off, int64(len(p)))
	if !ok {
		return 0, fmt.Errorf("replica: write of %d bytes at %d outside volume %q of %d bytes", len(p), off, w.v.ID(), w.geo.Size)
	}
	w.mu.Lock()
	w.written.AddRange(first, last-first+1)
	w.mu.Unlock()
	return w.v.WriteAt(p, off)
}

// writtenBlocks returns a copy of the blocks written.
func (w *writtenVolume) writtenBlocks() *delta.Set {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.written.Clone()
}
