package replica

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"time"

	"github.com/blockrep/blockrep/checkpoint"
	"github.com/blockrep/blockrep/delta"
)

// Demote makes this host the replica of the group's new primary: it stores
// the relationship's included volumes in rh's store as the group (same
// id, volume names and sizes, block size, metadata, failover settings,
// retention), then removes the relationship from p (tracking ends; its
// volumes are written through it no more — writes are refused from the
// start of Demote with ErrPreparedForFailover). The other side's
// ReplicaHost.Reverse then replicates to rh.
//
//   - PreparedForFailover (after PlannedFailover): the stored point is the
//     final point itself — same id, instant and consistency — and its
//     content hash must be the one both sides confirmed (else
//     ErrFailoverMismatch); the reverse relationship continues from it
//     with plain cycles.
//   - When the relationship's volumes are a clone of rh's own group (it
//     was created by rh.Reverse: a failback), nothing is copied: the
//     clone's image is committed into the group as a point (the final
//     point's id after a planned failover), in one crash-safe apply of the
//     blocks written to the clone, and the clone is discarded; the group is
//     Replicating again.
//   - Otherwise (the other side failed over while this one was away, or a
//     split brain resolved in the other side's favour): the current image
//     is stored as a seed point (a fresh id), and the group's record keeps
//     this side's change map — the last acknowledged point and the blocks
//     written since (the tracker's dirty set), or "unknown" when tracking
//     was lost — so that the reverse relationship sends only what changed
//     on either side. Writes this side made past the last common point
//     survive in the seed point only until the reverse synchronization
//     replaces them with the new primary's content.
//
// The copy costs one read of the volumes and one write of their non-zero
// blocks on this host, and nothing on the network; the store handles it as
// any delta (it stages the verified stream and keeps an undo log of what
// it overwrites). BenchmarkDemoteCopy measures it. Errors: ErrUnknownGroup when p has no such
// relationship; ErrGroupExists when rh's store holds the group already
// and it is not the failback case (remove it there first);
// ErrFailoverMismatch; ErrInvalidConfig for a nil rh; the store's errors.
// On error the relationship is as it was (writes allowed again unless a
// planned failover stopped them) and rh's store holds nothing new.
func (p *PrimaryHost) Demote(ctx context.Context, group string, rh *ReplicaHost) error {
	if rh == nil {
		return fmt.Errorf("%w: Demote without a ReplicaHost", ErrInvalidConfig)
	}
	r, err := p.Relationship(group)
	if err != nil {
		return err
	}
	if err := r.acquire(ctx); err != nil {
		return err
	}
	wasClosed := r.roles.gate.isClosed()
	r.roles.gate.close()
	if err := r.demoteLocked(ctx, rh); err != nil {
		if !wasClosed {
			r.roles.gate.open()
		}
		r.release()
		r.log.Warn("demote failed", "err", err)
		return err
	}
	r.release()
	r.log.Info("demoted: this host is the group's replica now")
	if err := p.Remove(ctx, group); err != nil && !errors.Is(err, ErrUnknownGroup) {
		return err
	}
	return nil
}

// demotion is what Demote stores: the point's id, instant, consistency and
// the role of the group record.
type demotion struct {
	id       delta.PointID
	at       time.Time
	cons     delta.Consistency
	prepared bool
	hash     delta.Hash // the content hash to match when prepared
	role     groupRole
}

func (r *Relationship) demoteLocked(ctx context.Context, rh *ReplicaHost) error {
	state := r.State()
	r.mu.Lock()
	last, lastTime, lastHash, inDoubt, lastApp := r.lastPoint, r.lastTime, r.lastHash, r.inDoubt, r.lastApp
	r.mu.Unlock()
	d := demotion{prepared: state == PreparedForFailover}
	if d.prepared {
		d.id, d.at, d.hash, d.cons = last, lastTime, lastHash, delta.ConsistencyCrash
		if !lastApp.IsZero() && lastApp.Equal(lastTime) {
			d.cons = delta.ConsistencyApp
		}
		d.role = groupRole{State: Replicating}
	} else {
		id, err := delta.NewPointID(r.host.cfg.Rand)
		if err != nil {
			return err
		}
		d.id, d.at, d.cons = id, r.clock.Now(), delta.ConsistencyCrash
		d.role = groupRole{State: Replicating, Point: id, Changes: r.changesSinceAck(state, last, inDoubt)}
	}
	if side := r.roles.side; side != nil && side.h == rh {
		return r.commitFailback(ctx, side, d)
	}
	return r.copyInto(ctx, rh, d)
}

// changesSinceAck is this side's change map for a seed: the blocks the
// tracker holds dirty since last, or unknown when tracking was lost or
// nothing was ever acknowledged.
func (r *Relationship) changesSinceAck(state State, last, inDoubt delta.PointID) changeMap {
	unknown := changeMap{Kind: changesUnknown, Since: last, Also: inDoubt}
	if last.IsZero() || state == ResynchronizationRequired || state == Resynchronizing || r.reversePending() != nil {
		return unknown
	}
	sets := make([]*delta.Set, len(r.included))
	for ti := range r.included {
		s, err := r.tracker.Dirty(ti)
		if err != nil {
			return unknown
		}
		sets[ti] = s
	}
	return knownChanges(last, inDoubt, sets)
}

// copyInto creates the group in rh's store and applies the volumes to it
// as one full delta.
func (r *Relationship) copyInto(ctx context.Context, rh *ReplicaHost, d demotion) error {
	if _, err := rh.openGroup(ctx, r.cfg.ID); err == nil {
		return fmt.Errorf("%w: %q is in the replica host's store already (remove it there first)", ErrGroupExists, r.cfg.ID)
	} else if !errors.Is(err, ErrUnknownGroup) {
		return err
	}
	store := rh.cfg.Store
	spec := checkpoint.GroupSpec{
		Volumes:   slices.Clone(r.infos),
		BlockSize: r.cfg.BlockSize,
		Meta:      encodeRecord(groupRecord{Meta: r.cfg.Metadata, Failover: r.cfg.FailoverSettings, Role: d.role}),
		Retention: r.cfg.Retention,
	}
	g, err := store.CreateGroup(ctx, r.cfg.ID, spec)
	if err != nil {
		return err
	}
	rh.mu.Lock()
	rh.forgetRoleLocked(r.cfg.ID)
	rh.forceStateLocked(r.cfg.ID, Replicating)
	rh.mu.Unlock()
	readers := make([]io.ReaderAt, len(r.included))
	for ti, ci := range r.included {
		readers[ti] = r.cfg.Volumes[ci].Volume
	}
	err = r.applyImage(ctx, g, delta.PointID{}, d, readers, nil)
	if err != nil {
		if rerr := store.RemoveGroup(ctx, r.cfg.ID); rerr != nil {
			err = errors.Join(err, fmt.Errorf("replica: remove the partial copy: %w", rerr))
		}
		return err
	}
	r.log.Info("volumes stored in the replica host's store", "point", d.id, "seed", !d.prepared)
	return nil
}

// commitFailback commits the clone this relationship wrote through into
// the group it was cloned from, as a point, and discards the clone.
func (r *Relationship) commitFailback(ctx context.Context, side *reverseSide, d demotion) error {
	h := side.h
	g, err := h.openGroup(ctx, r.cfg.ID)
	if err != nil {
		return err
	}
	latest, err := g.Latest(ctx)
	if err != nil {
		return err
	}
	var blocks []*delta.Set
	if latest.ID == side.point.ID {
		for _, geo := range r.geoms {
			blocks = append(blocks, delta.NewSet(geo.Blocks()))
		}
	} else if blocks, err = g.ChangedBlocks(ctx, side.point.ID, latest.ID); err != nil {
		return err
	}
	for i, wv := range side.vols {
		if err := blocks[i].Union(wv.writtenBlocks()); err != nil {
			return err
		}
	}
	readers := make([]io.ReaderAt, len(side.vols))
	for i, wv := range side.vols {
		readers[i] = wv
	}
	if err := r.applyImage(ctx, g, latest.ID, d, readers, blocks); err != nil {
		return err
	}
	// The image is committed; the clone and the role follow it.
	if err := side.clone.Discard(ctx); err != nil {
		r.log.Warn("the failback's clone is left on disk; the next Reverse discards it", "err", err)
	}
	if err := setRole(ctx, g, d.role); err != nil {
		return err
	}
	h.mu.Lock()
	delete(h.roles.reverse, r.cfg.ID)
	h.forceStateLocked(r.cfg.ID, Replicating)
	h.mu.Unlock()
	r.log.Info("failback: the new primary's image is committed into the store", "point", d.id)
	return nil
}

// applyImage applies to g, on base, a delta of blocks (nil: every block)
// of readers as point d, and checks a prepared point's content hash.
func (r *Relationship) applyImage(ctx context.Context, g checkpoint.Group, base delta.PointID, d demotion, readers []io.ReaderAt, blocks []*delta.Set) error {
	src, err := delta.NewSource(readers, r.geoms, blocks)
	if err != nil {
		return err
	}
	hdr := delta.Header{
		Group:       r.cfg.ID,
		Base:        base,
		New:         d.id,
		Time:        d.at,
		Consistency: d.cons,
		BlockSize:   r.cfg.BlockSize,
		Volumes:     r.infos,
	}
	if err := applySource(ctx, g, hdr, src); err != nil {
		return err
	}
	if !d.prepared {
		return nil
	}
	pt, err := g.Latest(ctx)
	if err != nil {
		return err
	}
	if pt.Hash != d.hash {
		return fmt.Errorf("%w: stored point %s hashes to %s, the planned failover confirmed %s", ErrFailoverMismatch, d.id, pt.Hash, d.hash)
	}
	return nil
}
