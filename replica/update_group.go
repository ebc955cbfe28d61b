package replica

import (
	"context"
	"errors"
	"fmt"

	"github.com/blockrep/blockrep/checkpoint"
	"github.com/blockrep/blockrep/delta"
)

// ErrUpdatePending is returned (wrapped, with the cause) by
// Relationship.SetMetadata, SetFailoverSettings and SetRetention when the
// change is made on this side but the replica could not take it now (it
// is unreachable, or failed over): the change is remembered and sent
// before the next cycle's delta.
var ErrUpdatePending = errors.New("replica: update not on the replica yet; it is sent before the next cycle")

// recordFits checks that the replica's group record of meta and failover
// fits the checkpoint store's metadata limit, so that a change never
// leaves an update the replica must refuse (and cycles behind it).
func recordFits(meta, failover []byte) error {
	if n := len(encodeGroupRecord(meta, failover)); n > checkpoint.MaxMetaSize {
		return fmt.Errorf("%w: metadata and failover settings take a %d-byte group record, over the store's %d", ErrInvalidConfig, n, checkpoint.MaxMetaSize)
	}
	return nil
}

// groupUpdate is what a relationship changed after Enable and the replica
// has not acknowledged yet. Guarded by the relationship's op slot.
type groupUpdate struct {
	flags     uint8
	meta      []byte
	failover  []byte
	retention checkpoint.Retention
}

// SetMetadata replaces the group's metadata blob (at most delta.MaxMeta
// bytes, as for Enable). The replica keeps it in the group's record, so
// the next Failover's or TestFailover's Metadata returns it. It waits for
// a cycle in flight, then sends the change at once; when the replica
// cannot take it now the error wraps ErrUpdatePending and the change goes
// before the next cycle's delta. Errors: ErrInvalidConfig (nothing
// changed), ErrClosed.
func (r *Relationship) SetMetadata(ctx context.Context, meta []byte) error {
	if len(meta) > delta.MaxMeta {
		return fmt.Errorf("%w: metadata of %d bytes exceeds %d", ErrInvalidConfig, len(meta), delta.MaxMeta)
	}
	meta = append([]byte(nil), meta...)
	return r.update(ctx, func(u *groupUpdate) error {
		if err := recordFits(meta, r.cfg.FailoverSettings); err != nil {
			return err
		}
		r.cfg.Metadata = meta
		u.flags |= updateMeta
		u.meta = meta
		return nil
	})
}

// SetFailoverSettings replaces the group's failover settings (at most
// MaxFailoverSettings bytes), handed back by the replica's next Failover or
// TestFailover. It sends the change as SetMetadata does.
func (r *Relationship) SetFailoverSettings(ctx context.Context, settings []byte) error {
	if len(settings) > MaxFailoverSettings {
		return fmt.Errorf("%w: failover settings of %d bytes exceed %d", ErrInvalidConfig, len(settings), MaxFailoverSettings)
	}
	settings = append([]byte(nil), settings...)
	return r.update(ctx, func(u *groupUpdate) error {
		if err := recordFits(r.cfg.Metadata, settings); err != nil {
			return err
		}
		r.cfg.FailoverSettings = settings
		u.flags |= updateFailover
		u.failover = settings
		return nil
	})
}

// SetRetention replaces which recovery points the replica keeps (bounds
// as for Enable). The replica prunes at once what the new retention no
// longer keeps, except points a test failover or a downstream hop holds.
// It sends the change as SetMetadata does.
func (r *Relationship) SetRetention(ctx context.Context, ret checkpoint.Retention) error {
	if !validRetention(ret) {
		return fmt.Errorf("%w: retention %+v", ErrInvalidConfig, ret)
	}
	return r.update(ctx, func(u *groupUpdate) error {
		r.cfg.Retention = ret
		u.flags |= updateRetention
		u.retention = ret
		return nil
	})
}

// update takes the op slot, applies change to the configuration and the
// pending update (unless it refuses), and tries to send it.
func (r *Relationship) update(ctx context.Context, change func(u *groupUpdate) error) error {
	if err := r.acquire(ctx); err != nil {
		return err
	}
	defer r.release()
	r.mu.Lock()
	err := change(&r.pending)
	r.mu.Unlock()
	if err != nil {
		return err
	}
	if err := r.flushUpdate(ctx); err != nil {
		r.log.Warn("group update pending", "err", err)
		return fmt.Errorf("%w: %w", ErrUpdatePending, err)
	}
	return nil
}

// UpdatePending reports whether a change made with SetMetadata,
// SetFailoverSettings or SetRetention has not reached the replica yet.
func (r *Relationship) UpdatePending() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.pending.flags != 0
}

// flushUpdate sends the pending update, if any, and clears it once the
// replica acknowledged it; the op slot is held. A cycle calls it before
// its delta. After a failure the connection is closed.
func (r *Relationship) flushUpdate(ctx context.Context) error {
	r.mu.Lock()
	u := r.pending
	r.mu.Unlock()
	if u.flags == 0 {
		return nil
	}
	if _, err := r.connect(ctx); err != nil {
		return err
	}
	m := updateGroupMsg{Group: r.cfg.ID, Flags: u.flags, Retention: u.retention}
	if u.flags&updateMeta != 0 {
		m.Meta = u.meta
	}
	if u.flags&updateFailover != 0 {
		m.Failover = u.failover
	}
	if err := checkMessage(m); err != nil {
		return err
	}
	err := sendMsg(ctx, r.conn, m)
	if err == nil {
		var buf []byte
		_, buf, err = expectReply[ackMsg](ctx, r.conn, r.buf)
		r.buf = buf
	}
	if err != nil {
		var remote *RemoteError
		if !errors.As(err, &remote) {
			r.closeConn() // a refusal leaves the connection usable; anything else does not
		}
		return fmt.Errorf("replica: update group %q: %w", r.cfg.ID, refusal(err))
	}
	r.mu.Lock()
	r.pending = groupUpdate{}
	r.mu.Unlock()
	r.log.Info("group updated on the replica", "metadata", u.flags&updateMeta != 0, "failover_settings", u.flags&updateFailover != 0, "retention", u.flags&updateRetention != 0)
	return nil
}
