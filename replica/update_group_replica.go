package replica

import (
	"bytes"
	"context"
	"errors"
	"fmt"

	"github.com/blockrep/blockrep/checkpoint"
)

// updateGroup applies a primary's UpdateGroup to its group: the record's
// metadata and failover settings, then the retention (which prunes at
// once). Like a delta it is refused while the group is failed over, and a
// failover that starts meanwhile waits for it.
func (s *session) updateGroup(ctx context.Context, m updateGroupMsg) (Code, error) {
	g, err := s.h.openGroup(ctx, m.Group)
	if err != nil {
		return codeOf(err), err
	}
	done, err := s.h.beginApply(m.Group)
	if err != nil {
		return codeOf(err), err
	}
	defer done()
	if m.Flags&(updateMeta|updateFailover) != 0 {
		rec := g.Spec().Meta
		meta, failover, derr := decodeGroupRecord(rec)
		if derr != nil {
			meta, failover = rec, nil // a group created by other means: its raw metadata
		}
		if m.Flags&updateMeta != 0 {
			meta = m.Meta
		}
		if m.Flags&updateFailover != 0 {
			failover = m.Failover
		}
		b, err := replaceRecordMeta(rec, meta, failover)
		if err != nil {
			return CodeLimit, err
		}
		if !bytes.Equal(b, rec) {
			if err := g.SetMeta(ctx, b); err != nil {
				if errors.Is(err, checkpoint.ErrInvalidSpec) {
					return CodeLimit, fmt.Errorf("group record of %d bytes: %w", len(b), err)
				}
				return CodeInternal, err
			}
		}
	}
	if m.Flags&updateRetention != 0 && g.Spec().Retention != m.Retention {
		if err := g.SetRetention(ctx, m.Retention); err != nil {
			if errors.Is(err, checkpoint.ErrInvalidSpec) {
				return CodeProtocol, err
			}
			return CodeInternal, err
		}
	}
	s.log.Info("group updated", "group", m.Group, "metadata", m.Flags&updateMeta != 0, "failover_settings", m.Flags&updateFailover != 0, "retention", m.Flags&updateRetention != 0)
	return 0, nil
}
