package delta

import (
	"encoding/binary"

	"github.com/zeebo/blake3"
)

// recHeader is the fixed 24-byte front of a record (FORMAT.md, Records).
type recHeader struct {
	kind   uint8 // with the skippable bit
	flags  uint8
	volume uint16
	block  uint64
	count  uint64
	plen   uint32
}

func (h *recHeader) put(b []byte) {
	_ = b[recHeaderLen-1]
	b[0] = h.kind
	b[1] = h.flags
	binary.BigEndian.PutUint16(b[2:], h.volume)
	binary.BigEndian.PutUint64(b[4:], h.block)
	binary.BigEndian.PutUint64(b[12:], h.count)
	binary.BigEndian.PutUint32(b[20:], h.plen)
}

func (h *recHeader) get(b []byte) {
	_ = b[recHeaderLen-1]
	h.kind = b[0]
	h.flags = b[1]
	h.volume = binary.BigEndian.Uint16(b[2:])
	h.block = binary.BigEndian.Uint64(b[4:])
	h.count = binary.BigEndian.Uint64(b[12:])
	h.plen = binary.BigEndian.Uint32(b[20:])
}

// recordChecksum returns H16(header || payloadHash) into dst.
func recordChecksum(dst *[checksumLen]byte, hdr []byte, payloadHash *[32]byte) {
	var in [recHeaderLen + 32]byte
	copy(in[:], hdr)
	copy(in[recHeaderLen:], payloadHash[:])
	sum := blake3.Sum256(in[:])
	copy(dst[:], sum[:checksumLen])
}

// payloadHasher hashes a payload made of several pieces; one per worker.
type payloadHasher struct{ h *blake3.Hasher }

func newPayloadHasher() payloadHasher { return payloadHasher{h: blake3.New()} }

func (p payloadHasher) sum(out *[32]byte, parts ...[]byte) {
	total := 0
	for _, b := range parts {
		total += len(b)
	}
	if len(parts) == 1 || total == 0 {
		var one []byte
		if len(parts) > 0 {
			one = parts[0]
		}
		*out = blake3.Sum256(one)
		return
	}
	p.h.Reset()
	for _, b := range parts {
		p.h.Write(b)
	}
	p.h.Sum(out[:0])
}

// maskWireLen is the size of a page mask on the wire for a block of pages
// pages.
func maskWireLen(pages int) int { return (pages + 7) / 8 }

// appendMask writes m for a block of pages pages in wire order.
func appendMask(b []byte, m PageMask, pages int) []byte {
	n := maskWireLen(pages)
	start := len(b)
	for range n {
		b = append(b, 0)
	}
	for p := range m.All(pages) {
		b[start+p/8] |= 1 << (uint(p) % 8)
	}
	return b
}

// parseMask decodes a wire mask of a block of pages pages into dst. It
// reports ok=false when the mask selects no page, every page, or a page
// past the last one.
func parseMask(w []byte, pages int, dst PageMask) (m PageMask, selected int, ok bool) {
	words := (pages + 63) / 64
	if cap(dst) >= words {
		m = dst[:words]
		clear(m)
	} else {
		m = make(PageMask, words)
	}
	for i, c := range w {
		for c != 0 {
			bit := c & -c
			c &^= bit
			p := i*8 + bitIndex8(bit)
			if p >= pages {
				return nil, 0, false
			}
			m[p>>6] |= 1 << (uint(p) & 63)
			selected++
		}
	}
	if selected == 0 || selected == pages {
		return nil, 0, false
	}
	return m, selected, true
}

func bitIndex8(b uint8) int {
	n := 0
	for b > 1 {
		b >>= 1
		n++
	}
	return n
}

// selectedLen returns how many bytes the pages of m make in a block of
// blen bytes (nil m: the whole block).
func selectedLen(m PageMask, blen int) int {
	if m == nil {
		return blen
	}
	pages := (blen + PageSize - 1) / PageSize
	n := 0
	for p := range m.All(pages) {
		n += min(PageSize, blen-p*PageSize)
	}
	return n
}
