package replica

import (
	"bytes"
	"fmt"

	"github.com/blockrep/blockrep/delta"
)

// A replica keeps a group's metadata blob, failover settings and
// replica-side role state together in the checkpoint store's metadata, as a
// group record:
//
//	magic "BRGR1" (5 bytes), blob32 metadata, blob32 failover settings,
//	[role]
//	role    = 'R', u8 state (Replicating or FailedOver), u8 flags
//	          (bit 0: promoted by a planned failover), point (the failover's
//	          point: the promoted one, or the one a completed failover
//	          committed), changes
//	changes = u8 kind (0 none, 1 unknown, 2 known)
//	          [unknown, known: point since, point also]
//	          [known: u16 volumes, volumes × blob32 delta.Set
//	           (Set.AppendBinary)]
//
// so that they survive a restart of the replica host and reach a later
// failover or reverse replication. A record without the role section (as
// the first version wrote them) is a Replicating group with no change map.
var groupRecordMagic = []byte("BRGR1")

// roleTag opens the role section of a group record.
const roleTag = 'R'

// Limits of a group record's role section.
const (
	// maxRecordSets bounds the change-map sets of a record (one a volume).
	maxRecordSets = delta.MaxVolumes
	// maxRecordSetBytes bounds one encoded set of a record. Sets are
	// run-length encoded: a change map of scattered blocks that does not
	// fit is recorded as unknown instead (see changeMap).
	maxRecordSetBytes = 1 << 20
)

// changeKind says what a change map knows.
type changeKind uint8

const (
	changesNone    changeKind = iota // no change map recorded
	changesUnknown                   // the changes happened but were not tracked
	changesKnown                     // Sets lists them
)

// changeMap is one side's record of what changed since a point both sides
// had: the blocks, per volume, written since Since. Also is a second point
// the map is valid from (a point sent whose acknowledgement was lost: the
// blocks it carried are in the map). Sets holds the encoded delta.Set of
// each volume, decoded against the group's geometry by sets. An unknown
// map still names its points (zero when there is none), so that a side
// with no common point is told apart from one whose changes were lost.
type changeMap struct {
	Kind  changeKind
	Since delta.PointID
	Also  delta.PointID
	Sets  [][]byte
}

// knownChanges encodes sets as a known change map, or returns an unknown
// one when a set does not fit a record.
func knownChanges(since, also delta.PointID, sets []*delta.Set) changeMap {
	m := changeMap{Kind: changesKnown, Since: since, Also: also}
	for _, s := range sets {
		b, err := s.AppendBinary(nil)
		if err != nil || len(b) > maxRecordSetBytes {
			return changeMap{Kind: changesUnknown, Since: since, Also: also}
		}
		m.Sets = append(m.Sets, b)
	}
	return m
}

// sets decodes the map's sets against the group's geometries; an error
// wraps ErrProtocol.
func (m changeMap) sets(geoms []delta.Geometry) ([]*delta.Set, error) {
	if m.Kind != changesKnown {
		return nil, fmt.Errorf("%w: change map is not known", ErrProtocol)
	}
	if len(m.Sets) != len(geoms) {
		return nil, fmt.Errorf("%w: change map of %d volumes, group has %d", ErrProtocol, len(m.Sets), len(geoms))
	}
	out := make([]*delta.Set, len(geoms))
	for i, b := range m.Sets {
		s, n, err := delta.UnmarshalSet(b, geoms[i].Blocks())
		if err != nil {
			return nil, fmt.Errorf("%w: change map of volume %d: %w", ErrProtocol, i, err)
		}
		if n != len(b) || s.Len() != geoms[i].Blocks() {
			return nil, fmt.Errorf("%w: change map of volume %d: %d blocks in %d of %d bytes, volume has %d blocks", ErrProtocol, i, s.Len(), n, len(b), geoms[i].Blocks())
		}
		out[i] = s
	}
	return out, nil
}

// groupRole is the replica-side role state a record keeps.
type groupRole struct {
	State    State         // Replicating or FailedOver
	Promoted bool          // FailedOver by a planned failover's promotion
	Point    delta.PointID // the promoted point, or the completed failover's
	Changes  changeMap     // see groupRecord
}

// groupRecord is a decoded group record. Role.Changes is, for a FailedOver
// group, the blocks its completed failover changed since the failover's
// base (Since); for a Replicating group stored by Demote as a seed, the
// blocks written on the old primary since its last acknowledged point.
type groupRecord struct {
	Meta     []byte
	Failover []byte
	Role     groupRole
}

func encodeGroupRecord(meta, failover []byte) []byte {
	return encodeRecord(groupRecord{Meta: meta, Failover: failover})
}

// encodeRecord writes rec; a role that says nothing (Replicating, no map)
// is left out, so such records are the first version's.
func encodeRecord(rec groupRecord) []byte {
	b := append([]byte(nil), groupRecordMagic...)
	b = appendBlob32(b, rec.Meta)
	b = appendBlob32(b, rec.Failover)
	r := rec.Role
	if r.State == Replicating || r.State == StateNone {
		if r.Changes.Kind == changesNone && !r.Promoted && r.Point.IsZero() {
			return b
		}
		r.State = Replicating
	}
	b = append(b, roleTag, byte(r.State))
	var flags byte
	if r.Promoted {
		flags |= 1
	}
	b = append(b, flags)
	b = append(b, r.Point[:]...)
	b = append(b, byte(r.Changes.Kind))
	if r.Changes.Kind != changesNone {
		b = append(b, r.Changes.Since[:]...)
		b = append(b, r.Changes.Also[:]...)
	}
	if r.Changes.Kind == changesKnown {
		b = append(b, byte(len(r.Changes.Sets)>>8), byte(len(r.Changes.Sets)))
		for _, s := range r.Changes.Sets {
			b = appendBlob32(b, s)
		}
	}
	return b
}

// decodeGroupRecord parses a group record's metadata and failover
// settings; its error wraps ErrProtocol.
func decodeGroupRecord(b []byte) (meta, failover []byte, err error) {
	rec, err := decodeRecord(b)
	if err != nil {
		return nil, nil, err
	}
	return rec.Meta, rec.Failover, nil
}

// decodeRecord parses a whole group record; its error wraps ErrProtocol.
// Every length is checked against its limit and the bytes left before
// anything is allocated.
func decodeRecord(b []byte) (groupRecord, error) {
	var rec groupRecord
	if !bytes.HasPrefix(b, groupRecordMagic) {
		return rec, fmt.Errorf("%w: group record without its magic", ErrProtocol)
	}
	r := &wireReader{b: b, off: len(groupRecordMagic)}
	rec.Meta = r.blob32(delta.MaxMeta)
	rec.Failover = r.blob32(MaxFailoverSettings)
	rec.Role.State = Replicating
	if r.err == nil && r.left() > 0 {
		decodeRole(r, &rec.Role)
	}
	if r.err == nil && r.left() != 0 {
		r.fail("%d bytes after the group record", r.left())
	}
	if r.err != nil {
		return groupRecord{}, r.err
	}
	return rec, nil
}

func decodeRole(r *wireReader, role *groupRole) {
	if tag := r.u8(); r.err == nil && tag != roleTag {
		r.fail("group record section %#x, want the role section", tag)
		return
	}
	role.State = State(r.u8())
	if r.err == nil && role.State != Replicating && role.State != FailedOver {
		r.fail("group record state %s", role.State)
		return
	}
	flags := r.u8()
	if r.err == nil && flags&^1 != 0 {
		r.fail("group record flags %#x", flags)
		return
	}
	role.Promoted = flags&1 != 0
	r.point(&role.Point)
	c := &role.Changes
	c.Kind = changeKind(r.u8())
	switch {
	case r.err != nil:
		return
	case c.Kind > changesKnown:
		r.fail("group record change map kind %d", c.Kind)
		return
	case c.Kind == changesNone && role.State == Replicating && !role.Promoted && role.Point.IsZero():
		// encodeRecord leaves such a section out: one record, one encoding.
		r.fail("group record role section that says nothing")
		return
	case c.Kind == changesNone:
		return
	}
	r.point(&c.Since)
	r.point(&c.Also)
	if c.Kind != changesKnown {
		return
	}
	n := int(r.u16())
	// A set is at least a 4-byte length and a few bytes: bound the slice
	// by what the record has left.
	if r.err == nil && (n > maxRecordSets || n*5 > r.left()) {
		r.fail("group record change map of %d volumes", n)
		return
	}
	for range n {
		s := r.blob32(maxRecordSetBytes)
		if r.err != nil {
			return
		}
		c.Sets = append(c.Sets, s)
	}
}

// replaceRecordMeta returns record rec with its metadata and failover
// settings replaced and its role state kept. A rec that is not a group
// record (a group created by other means) gives a fresh record. The error
// wraps ErrInvalidConfig for a blob over its limit.
func replaceRecordMeta(rec, meta, failover []byte) ([]byte, error) {
	if len(meta) > delta.MaxMeta {
		return nil, fmt.Errorf("%w: metadata of %d bytes exceeds %d", ErrInvalidConfig, len(meta), delta.MaxMeta)
	}
	if len(failover) > MaxFailoverSettings {
		return nil, fmt.Errorf("%w: failover settings of %d bytes exceed %d", ErrInvalidConfig, len(failover), MaxFailoverSettings)
	}
	r, err := decodeRecord(rec)
	if err != nil {
		r = groupRecord{}
	}
	r.Meta, r.Failover = meta, failover
	return encodeRecord(r), nil
}

// replaceRecordRole returns record rec with its role replaced and its
// metadata and failover settings kept (raw metadata of a group created by
// other means becomes the record's metadata).
func replaceRecordRole(rec []byte, role groupRole) []byte {
	r, err := decodeRecord(rec)
	if err != nil {
		r = groupRecord{Meta: rec}
	}
	r.Role = role
	return encodeRecord(r)
}
