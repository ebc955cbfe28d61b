package replica

import (
	"encoding/binary"
	"math"
	"time"

	"github.com/blockrep/blockrep/checkpoint"
	"github.com/blockrep/blockrep/delta"
)

// Changing a group after Enable adds one request to the protocol, answered
// by Ack or Nack:
//
//	UpdateGroup = group str8, flags u8 (bit 0 metadata, bit 1 failover
//	              settings, bit 2 retention; no other bit, not 0),
//	              [metadata blob32 (≤ MaxMeta)],
//	              [failover settings blob32 (≤ MaxFailoverSettings)],
//	              [retention: additional u32 (< checkpoint.MaxPoints),
//	               spacing u64 (ns, ≤ MaxInt64), keep-app flag u8]
//
// The replica replaces what the flags name in the group's record (its
// metadata and failover settings) and retention, and prunes at once what
// the new retention no longer keeps.
const msgUpdateGroup msgType = 40

// The parts of a group an UpdateGroup replaces.
const (
	updateMeta      = 1 << 0
	updateFailover  = 1 << 1
	updateRetention = 1 << 2
	updateAll       = updateMeta | updateFailover | updateRetention
)

// updateGroupMsg replaces some of a group's metadata, failover settings
// and retention on the replica.
type updateGroupMsg struct {
	Group     string
	Flags     uint8
	Meta      []byte
	Failover  []byte
	Retention checkpoint.Retention
}

func (updateGroupMsg) kind() msgType { return msgUpdateGroup }

func (m updateGroupMsg) appendBody(b []byte) []byte {
	b = appendStr8(b, m.Group)
	b = append(b, m.Flags)
	if m.Flags&updateMeta != 0 {
		b = appendBlob32(b, m.Meta)
	}
	if m.Flags&updateFailover != 0 {
		b = appendBlob32(b, m.Failover)
	}
	if m.Flags&updateRetention != 0 {
		b = binary.BigEndian.AppendUint32(b, uint32(m.Retention.Additional))
		b = binary.BigEndian.AppendUint64(b, uint64(m.Retention.Spacing))
		b = appendBool(b, m.Retention.KeepApp)
	}
	return b
}

// check reports a field outside what decodeUpdateGroup accepts.
func (m updateGroupMsg) check() string {
	switch {
	case m.Flags == 0 || m.Flags&^updateAll != 0:
		return "flags name nothing to update or an unknown part"
	case m.Flags&updateMeta == 0 && len(m.Meta) > 0, m.Flags&updateFailover == 0 && len(m.Failover) > 0,
		m.Flags&updateRetention == 0 && m.Retention != (checkpoint.Retention{}):
		return "a field the flags do not name is set"
	case len(m.Meta) > delta.MaxMeta:
		return "metadata too large"
	case len(m.Failover) > MaxFailoverSettings:
		return "failover settings too large"
	case !validRetention(m.Retention):
		return "retention out of range"
	}
	return ""
}

// validRetention applies GroupConfig.Validate's bounds.
func validRetention(r checkpoint.Retention) bool {
	return r.Additional >= 0 && r.Additional < checkpoint.MaxPoints && r.Spacing >= 0
}

func decodeUpdateGroup(r *wireReader) updateGroupMsg {
	m := updateGroupMsg{Group: r.groupID(), Flags: r.u8()}
	if r.err == nil && (m.Flags == 0 || m.Flags&^updateAll != 0) {
		r.fail("update group: flags %#x", m.Flags)
		return m
	}
	if m.Flags&updateMeta != 0 {
		m.Meta = r.blob32(delta.MaxMeta)
	}
	if m.Flags&updateFailover != 0 {
		m.Failover = r.blob32(MaxFailoverSettings)
	}
	if m.Flags&updateRetention != 0 {
		add := r.u32()
		if r.err == nil && add >= checkpoint.MaxPoints {
			r.fail("update group: retention of %d points", add)
		}
		m.Retention.Additional = int(add)
		spacing := r.u64()
		if r.err == nil && spacing > math.MaxInt64 {
			r.fail("update group: retention spacing %d", spacing)
		}
		m.Retention.Spacing = time.Duration(spacing)
		m.Retention.KeepApp = r.boolean()
	}
	return m
}
