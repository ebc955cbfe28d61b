package replica

import (
	"github.com/blockrep/blockrep/delta"
)

// Resynchronization adds one request and its answer to the protocol. The
// primary walks the hash tree of each volume of the replica's latest point
// from the top down (see delta.Differ), asking for the nodes it needs:
//
//	ResyncQuery  = group str8, point, volume u16, fan-out u16, level u8,
//	               nodes blob32 (a delta.Set over the level's width,
//	               Set.AppendBinary; ≤ MaxResyncSetBytes, ≤ MaxResyncNodes members)
//	ResyncHashes = group str8, point, volume u16, level u8,
//	               digests blob32 (ResyncDigestSize bytes a node;
//	               ≤ MaxResyncNodes digests)
//
// The replica answers a query with the digests of the named nodes, in
// ascending order — the first ResyncDigestSize bytes of each node's hash,
// which halves the hash traffic; a collision of 128-bit prefixes is out of
// reach, and the content hash compared at the end of every
// resynchronization would catch one — or with a Nack: CodeBaseMismatch when its latest point
// is not the query's point any more, CodeProtocol for a volume, fan-out,
// level or node set that does not fit the group's tree.
const (
	// MaxResyncNodes bounds the nodes one ResyncQuery names and so the
	// digests one ResyncHashes carries (256 KiB of digests).
	MaxResyncNodes = 16 << 10

	// ResyncDigestSize is the length of the prefix of a node's hash that
	// ResyncHashes carries.
	ResyncDigestSize = 16

	// MaxResyncSetBytes bounds the encoded node set of a ResyncQuery. A set
	// of MaxResyncNodes members in as many runs takes at most 20 bytes a
	// run plus its header.
	MaxResyncSetBytes = MaxResyncNodes*20 + 64
)

// The message types of resynchronization. They are numbered apart from
// the core messages so that other features can add theirs without a clash.
const (
	msgResyncQuery  msgType = 16
	msgResyncHashes msgType = 17
)

// resyncQueryMsg asks for the hashes of some nodes of one level of the
// hash tree of one volume of the group's latest point.
type resyncQueryMsg struct {
	Group  string
	Point  delta.PointID // the replica's latest point, as the primary saw it
	Volume uint16        // index in the group's volumes
	Fanout uint16        // fan-out of the tree (delta.MinFanout..MaxFanout)
	Level  uint8         // tree level, 0 = block hashes
	Nodes  []byte        // delta.Set of node indexes, over the level's width
}

// resyncHashesMsg answers a resyncQueryMsg.
type resyncHashesMsg struct {
	Group   string
	Point   delta.PointID
	Volume  uint16
	Level   uint8
	Digests []nodeDigest
}

// nodeDigest is the prefix of a hash-tree node's hash that crosses the
// wire during a resynchronization.
type nodeDigest [ResyncDigestSize]byte

func digestOf(h delta.Hash) nodeDigest { return nodeDigest(h[:ResyncDigestSize]) }

func (resyncQueryMsg) kind() msgType  { return msgResyncQuery }
func (resyncHashesMsg) kind() msgType { return msgResyncHashes }

func (m resyncQueryMsg) appendBody(b []byte) []byte {
	b = appendStr8(b, m.Group)
	b = append(b, m.Point[:]...)
	b = append(b, byte(m.Volume>>8), byte(m.Volume), byte(m.Fanout>>8), byte(m.Fanout), m.Level)
	return appendBlob32(b, m.Nodes)
}

func (m resyncHashesMsg) appendBody(b []byte) []byte {
	b = appendStr8(b, m.Group)
	b = append(b, m.Point[:]...)
	b = append(b, byte(m.Volume>>8), byte(m.Volume), m.Level)
	n := len(m.Digests) * ResyncDigestSize
	b = append(b, byte(n>>24), byte(n>>16), byte(n>>8), byte(n))
	for _, d := range m.Digests {
		b = append(b, d[:]...)
	}
	return b
}

// check reports a field outside what decodeResyncQuery accepts.
func (m resyncQueryMsg) check() string {
	switch {
	case m.Fanout < delta.MinFanout || m.Fanout > delta.MaxFanout:
		return "fan-out out of range"
	case int(m.Volume) >= delta.MaxVolumes:
		return "volume index out of range"
	case len(m.Nodes) == 0 || len(m.Nodes) > MaxResyncSetBytes:
		return "node set size out of range"
	}
	return ""
}

func (m resyncHashesMsg) check() string {
	switch {
	case int(m.Volume) >= delta.MaxVolumes:
		return "volume index out of range"
	case len(m.Digests) > MaxResyncNodes:
		return "too many digests"
	}
	return ""
}

func decodeResyncQuery(r *wireReader) resyncQueryMsg {
	m := resyncQueryMsg{Group: r.groupID()}
	r.point(&m.Point)
	m.Volume, m.Fanout, m.Level = r.u16(), r.u16(), r.u8()
	m.Nodes = r.blob32(MaxResyncSetBytes)
	if r.err == nil {
		if why := m.check(); why != "" {
			r.fail("resync query: %s", why)
		}
	}
	return m
}

func decodeResyncHashes(r *wireReader) resyncHashesMsg {
	m := resyncHashesMsg{Group: r.groupID()}
	r.point(&m.Point)
	m.Volume, m.Level = r.u16(), r.u8()
	n := r.u32()
	if r.err != nil {
		return m
	}
	if n > MaxResyncNodes*ResyncDigestSize || n%ResyncDigestSize != 0 {
		r.fail("resync hashes: %d bytes of digests", n)
		return m
	}
	p := r.take(int(n))
	if r.err != nil {
		return m
	}
	if len(p) > 0 {
		m.Digests = make([]nodeDigest, len(p)/ResyncDigestSize)
		for i := range m.Digests {
			copy(m.Digests[i][:], p[i*ResyncDigestSize:])
		}
	}
	if int(m.Volume) >= delta.MaxVolumes {
		r.fail("resync hashes: volume index %d", m.Volume)
	}
	return m
}
