package replica

import (
	"encoding/binary"

	"github.com/blockrep/blockrep/delta"
)

// Planned failover and reverse replication add two requests to the
// protocol:
//
//	Promote      = group str8, point, reverse-to str8 (may be empty)
//	               → Ack (point, its content hash, Replayed: promoted
//	               before) or Nack
//	ReverseQuery = group str8, point (the asking side's latest)
//	               → ReverseInfo or Nack
//	ReverseInfo  = group str8, point latest, u32 block size,
//	               u16 volumes × (id str8, size u64),
//	               u8 kind (0 none, 1 unknown, 2 known)
//	               [unknown, known: point since, point also]
//	               [known: u16 sets, sets × blob32 delta.Set (≤ 1 MiB each)]
//
// Promote is the old primary's last word in a planned failover: the
// replica becomes FailedOver at the named point, which must be its latest.
// ReverseQuery is the first request of a reverse relationship: the old
// primary's store answers with its latest point and the change map its
// Demote recorded, so that only the blocks changed on either side since
// the last common point cross the wire.
const (
	msgPromote      msgType = 24
	msgReverseQuery msgType = 25
	msgReverseInfo  msgType = 26
	msgPromoted     msgType = 27
)

// promotedMsg answers a Promote: the promoted point, its content hash and
// instant, Replayed for a promotion made already. It has an Ack's fields
// but a type of its own, so that no other acknowledgement — a delta's,
// delivered twice by the network — can be taken for the promotion.
type promotedMsg ackMsg

func (promotedMsg) kind() msgType { return msgPromoted }

// maxAddrLen bounds the reverse address a Promote carries.
const maxAddrLen = 255

// promoteMsg asks the replica to become the group's primary at Point.
type promoteMsg struct {
	Group     string
	Point     delta.PointID
	ReverseTo string // the old primary's ReplicaHost address, or ""
}

// reverseQueryMsg asks the old primary's store for its side of a reverse
// replication.
type reverseQueryMsg struct {
	Group string
	Point delta.PointID // the asking side's latest point
}

// reverseInfoMsg answers a reverseQueryMsg.
type reverseInfoMsg struct {
	Group     string
	Latest    delta.PointID
	BlockSize uint32
	Volumes   []delta.VolumeInfo
	Changes   changeMap
}

func (promoteMsg) kind() msgType      { return msgPromote }
func (reverseQueryMsg) kind() msgType { return msgReverseQuery }
func (reverseInfoMsg) kind() msgType  { return msgReverseInfo }

func (m promoteMsg) appendBody(b []byte) []byte {
	b = appendStr8(b, m.Group)
	b = append(b, m.Point[:]...)
	return appendStr8(b, m.ReverseTo)
}

func (m reverseQueryMsg) appendBody(b []byte) []byte {
	b = appendStr8(b, m.Group)
	return append(b, m.Point[:]...)
}

func (m reverseInfoMsg) appendBody(b []byte) []byte {
	b = appendStr8(b, m.Group)
	b = append(b, m.Latest[:]...)
	b = binary.BigEndian.AppendUint32(b, m.BlockSize)
	b = binary.BigEndian.AppendUint16(b, uint16(len(m.Volumes)))
	for _, v := range m.Volumes {
		b = appendStr8(b, v.ID)
		b = binary.BigEndian.AppendUint64(b, uint64(v.Size))
	}
	c := m.Changes
	b = append(b, byte(c.Kind))
	if c.Kind != changesNone {
		b = append(b, c.Since[:]...)
		b = append(b, c.Also[:]...)
	}
	if c.Kind == changesKnown {
		b = binary.BigEndian.AppendUint16(b, uint16(len(c.Sets)))
		for _, s := range c.Sets {
			b = appendBlob32(b, s)
		}
	}
	return b
}

// check reports a field outside what the decoder accepts.
func (m promoteMsg) check() string {
	switch {
	case m.Point.IsZero():
		return "no point"
	case len(m.ReverseTo) > maxAddrLen:
		return "reverse address too long"
	}
	return ""
}

func (m reverseInfoMsg) check() string {
	if len(m.Volumes) < 1 || len(m.Volumes) > delta.MaxVolumes {
		return "volume count out of range"
	}
	for _, v := range m.Volumes {
		if !validVolumeID(v.ID) || v.Size < 0 || v.Size > delta.MaxVolumeSize {
			return "invalid volume"
		}
	}
	c := m.Changes
	switch {
	case c.Kind > changesKnown:
		return "unknown change map kind"
	case c.Kind != changesKnown && len(c.Sets) != 0:
		return "change sets without a known map"
	case c.Kind == changesNone && (!c.Since.IsZero() || !c.Also.IsZero()):
		return "change map points without a map"
	case len(c.Sets) > maxRecordSets:
		return "too many change sets"
	}
	for _, s := range c.Sets {
		if len(s) > maxRecordSetBytes {
			return "change set too large"
		}
	}
	return ""
}

func decodePromote(r *wireReader) promoteMsg {
	m := promoteMsg{Group: r.groupID()}
	r.point(&m.Point)
	m.ReverseTo = r.str8()
	if r.err == nil && m.Point.IsZero() {
		r.fail("promote without a point")
	}
	return m
}

func decodeReverseQuery(r *wireReader) reverseQueryMsg {
	m := reverseQueryMsg{Group: r.groupID()}
	r.point(&m.Point)
	return m
}

func decodeReverseInfo(r *wireReader) reverseInfoMsg {
	m := reverseInfoMsg{Group: r.groupID()}
	r.point(&m.Latest)
	m.BlockSize = r.u32()
	n := int(r.u16())
	// An entry is at least 1+1+8 bytes: bound the slice by the frame.
	if r.err == nil && (n < 1 || n > delta.MaxVolumes || n*10 > r.left()) {
		r.fail("reverse info: volume count %d", n)
		return m
	}
	if r.err != nil {
		return m
	}
	m.Volumes = make([]delta.VolumeInfo, n)
	for i := range m.Volumes {
		m.Volumes[i].ID = r.str8()
		if r.err == nil && !validVolumeID(m.Volumes[i].ID) {
			r.fail("reverse info: volume %d: invalid id", i)
		}
		size := r.u64()
		if r.err == nil && size > delta.MaxVolumeSize {
			r.fail("reverse info: volume %d: size %d", i, size)
		}
		m.Volumes[i].Size = int64(size)
	}
	c := &m.Changes
	c.Kind = changeKind(r.u8())
	if r.err == nil && c.Kind > changesKnown {
		r.fail("reverse info: change map kind %d", c.Kind)
	}
	if r.err != nil || c.Kind == changesNone {
		return m
	}
	r.point(&c.Since)
	r.point(&c.Also)
	if c.Kind != changesKnown {
		return m
	}
	k := int(r.u16())
	if r.err == nil && (k > maxRecordSets || k*4 > r.left()) {
		r.fail("reverse info: %d change sets", k)
		return m
	}
	for range k {
		s := r.blob32(maxRecordSetBytes)
		if r.err != nil {
			return m
		}
		c.Sets = append(c.Sets, s)
	}
	return m
}
