package replica

import (
	"github.com/blockrep/blockrep/delta"
)

// Once the hash trees named the blocks that differ, one more request and
// its answer narrow them to pages, so that a block of which one 4 KiB page
// differs costs a page in the delta, not a block:
//
//	ResyncPagesQuery = group str8, point, volume u16, key [32]byte,
//	                   digest size u8 (MinResyncPageDigest..MaxResyncPageDigest),
//	                   blocks blob32 (a delta.Set over the volume's blocks,
//	                   Set.AppendBinary; ≤ MaxResyncSetBytes, at most
//	                   MaxResyncPageDigests pages in the blocks it names)
//	ResyncPageHashes = group str8, point, volume u16,
//	                   digests blob32 (digest-size bytes a page of every named
//	                   block, in ascending order of block then page; a short
//	                   last page counts; ≤ MaxResyncPageDigests digests)
//
// A page's digest is the prefix of its keyed BLAKE3 hash under the query's
// key. The primary draws a fresh key for every resynchronization, so no
// content can be prepared to collide with another under a key not yet
// drawn, and a prefix of six bytes — the size the primary asks for — makes a
// differing page taken for an equal one a chance of 2⁻⁴⁸; the content hash
// compared at the end of every resynchronization catches even that. The
// replica refuses with a Nack what ResyncQuery refuses (CodeBaseMismatch,
// CodeStateConflict, CodeProtocol), and with CodeLimit a query whose blocks
// hold more than MaxResyncPageDigests pages.
const (
	// MaxResyncPageDigests bounds the page digests one ResyncPageHashes
	// carries (1 MiB at the largest digest size), and so the blocks one
	// ResyncPagesQuery names: 4096 blocks of 64 KiB, 64 of 4 MiB.
	MaxResyncPageDigests = 64 << 10

	// MinResyncPageDigest and MaxResyncPageDigest bound the digest size a
	// ResyncPagesQuery asks for.
	MinResyncPageDigest = 4
	MaxResyncPageDigest = 16

	// ResyncPageKeySize is the length of a ResyncPagesQuery's key.
	ResyncPageKeySize = 32
)

// The message types of page-level resynchronization.
const (
	msgResyncPagesQuery msgType = 44
	msgResyncPageHashes msgType = 45
)

// resyncPagesQueryMsg asks for the keyed page digests of some blocks of
// one volume of the group's latest point.
type resyncPagesQueryMsg struct {
	Group  string
	Point  delta.PointID // the replica's latest point, as the primary saw it
	Volume uint16        // index in the group's volumes
	Key    [ResyncPageKeySize]byte
	Size   uint8  // digest bytes a page
	Blocks []byte // delta.Set of block indexes, over the volume's blocks
}

// resyncPageHashesMsg answers a resyncPagesQueryMsg.
type resyncPageHashesMsg struct {
	Group   string
	Point   delta.PointID
	Volume  uint16
	Digests []byte // the query's Size bytes a page
}

func (resyncPagesQueryMsg) kind() msgType { return msgResyncPagesQuery }
func (resyncPageHashesMsg) kind() msgType { return msgResyncPageHashes }

func (m resyncPagesQueryMsg) appendBody(b []byte) []byte {
	b = appendStr8(b, m.Group)
	b = append(b, m.Point[:]...)
	b = append(b, byte(m.Volume>>8), byte(m.Volume))
	b = append(b, m.Key[:]...)
	b = append(b, m.Size)
	return appendBlob32(b, m.Blocks)
}

func (m resyncPageHashesMsg) appendBody(b []byte) []byte {
	b = appendStr8(b, m.Group)
	b = append(b, m.Point[:]...)
	b = append(b, byte(m.Volume>>8), byte(m.Volume))
	return appendBlob32(b, m.Digests)
}

// check reports a field outside what decodeResyncPagesQuery accepts.
func (m resyncPagesQueryMsg) check() string {
	switch {
	case int(m.Volume) >= delta.MaxVolumes:
		return "volume index out of range"
	case m.Size < MinResyncPageDigest || m.Size > MaxResyncPageDigest:
		return "digest size out of range"
	case len(m.Blocks) == 0 || len(m.Blocks) > MaxResyncSetBytes:
		return "block set size out of range"
	}
	return ""
}

func (m resyncPageHashesMsg) check() string {
	switch {
	case int(m.Volume) >= delta.MaxVolumes:
		return "volume index out of range"
	case len(m.Digests) > MaxResyncPageDigests*MaxResyncPageDigest:
		return "too many digest bytes"
	}
	return ""
}

func decodeResyncPagesQuery(r *wireReader) resyncPagesQueryMsg {
	m := resyncPagesQueryMsg{Group: r.groupID()}
	r.point(&m.Point)
	m.Volume = r.u16()
	r.bytes(m.Key[:])
	m.Size = r.u8()
	m.Blocks = r.blob32(MaxResyncSetBytes)
	if r.err == nil {
		if why := m.check(); why != "" {
			r.fail("resync pages query: %s", why)
		}
	}
	return m
}

func decodeResyncPageHashes(r *wireReader) resyncPageHashesMsg {
	m := resyncPageHashesMsg{Group: r.groupID()}
	r.point(&m.Point)
	m.Volume = r.u16()
	m.Digests = r.blob32(MaxResyncPageDigests * MaxResyncPageDigest)
	if r.err == nil {
		if why := m.check(); why != "" {
			r.fail("resync page hashes: %s", why)
		}
	}
	return m
}

// resyncPageBlocks is how many blocks of geometry g one ResyncPagesQuery
// may name: as many as hold MaxResyncPageDigests pages.
func resyncPageBlocks(g delta.Geometry) int64 {
	return int64(MaxResyncPageDigests / ((g.BlockSize + delta.PageSize - 1) / delta.PageSize))
}
