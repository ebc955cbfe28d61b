package delta

import (
	"encoding/binary"
	"fmt"

	"github.com/klauspost/compress/zstd"
)

// rawRecord is one record as read off the wire and checked for shape, its
// data not yet decompressed and its checksum not yet compared.
type rawRecord struct {
	off     int64 // stream offset of the record's first byte
	h       recHeader
	hdr     [recHeaderLen]byte
	sum     [checksumLen]byte
	payload []byte // reused buffer; payload is payload[:h.plen]
	skip    bool   // an unknown skippable kind

	kind      RecordKind
	vol       int
	block     int64
	count     int64
	mask      PageMask // nil: whole block
	maskBuf   PageMask
	body      []byte // payload after the mask
	want      int    // data: decompressed length
	fromVol   int
	fromBlock int64
}

func (r *rawRecord) fail(reason string) *CorruptError {
	e := corrupt(r.off, reason)
	if !r.skip && r.kind != 0 {
		e.Volume, e.Block = r.vol, r.block
	}
	return e
}

// recordState is what a reader must remember across records to enforce
// order and copy references.
type recordState struct {
	geoms     []Geometry
	nextVol   int
	nextBlock int64
	sources   map[blockAddr]struct{}
	records   uint64
	runs      bool // format version 2: data records may cover several blocks
}

// checkHeader checks a record header against the format and the stream so
// far, before anything is allocated for its payload.
func (st *recordState) checkHeader(r *rawRecord) error {
	h := &r.h
	r.skip = false
	r.kind = 0
	if h.plen > MaxRecordPayload && !(st.runs && h.kind == uint8(RecordData) && h.count > 1 && h.plen < MaxRunBytes) {
		// A data run's payload has its own bound (checkRun).
		return r.fail(fmt.Sprintf("payload of %d bytes exceeds %d", h.plen, MaxRecordPayload))
	}
	code := RecordKind(h.kind &^ kindSkippable)
	known := code == RecordData || code == RecordZero || code == RecordCopy
	switch {
	case !known && h.kind&kindSkippable != 0:
		r.skip = true
		return nil
	case !known:
		return r.fail(fmt.Sprintf("unknown record kind %d that may not be skipped", h.kind))
	case h.kind&kindSkippable != 0:
		return r.fail(fmt.Sprintf("%s record marked skippable", code))
	}
	r.kind = code
	r.vol, r.block, r.count = int(h.volume), int64(h.block), int64(h.count)
	if r.vol >= len(st.geoms) {
		return r.fail(fmt.Sprintf("volume %d of %d", r.vol, len(st.geoms)))
	}
	g := st.geoms[r.vol]
	blocks := g.Blocks()
	if h.block >= uint64(blocks) || h.count < 1 || h.count > uint64(blocks)-h.block {
		return r.fail(fmt.Sprintf("blocks %d+%d outside the volume's %d", h.block, h.count, blocks))
	}
	if r.vol < st.nextVol || r.vol == st.nextVol && r.block < st.nextBlock {
		return r.fail("record out of order or overlapping an earlier one")
	}
	maskLen := 0
	if h.flags&flagPages != 0 {
		maskLen = maskWireLen(g.BlockPages(r.block))
	}
	_, blen := g.BlockBounds(r.block)
	switch code {
	case RecordData:
		if h.flags&^(flagPages|flagZstd|flagSource) != 0 || h.flags&flagPages != 0 && h.flags&flagSource != 0 {
			return r.fail(fmt.Sprintf("data record flags 0x%02x", h.flags))
		}
		if r.count != 1 {
			if err := st.checkRun(r, g); err != nil {
				return err
			}
			break
		}
		if int(h.plen) <= maskLen || int(h.plen) > maskLen+blen {
			return r.fail(fmt.Sprintf("data payload of %d bytes for a %d-byte block", h.plen, blen))
		}
	case RecordZero:
		if h.flags&^flagPages != 0 || maskLen > 0 && r.count != 1 {
			return r.fail(fmt.Sprintf("zero record flags 0x%02x over %d blocks", h.flags, r.count))
		}
		if int(h.plen) != maskLen {
			return r.fail(fmt.Sprintf("zero record payload of %d bytes", h.plen))
		}
	case RecordCopy:
		if h.flags != 0 || r.count != 1 || h.plen != copyPayloadLen {
			return r.fail("malformed copy record")
		}
	}
	st.nextVol, st.nextBlock = r.vol, r.block+r.count
	return nil
}

// checkPayload checks a known record's payload once read.
func (st *recordState) checkPayload(r *rawRecord) error {
	if r.skip {
		return nil
	}
	p := r.payload[:r.h.plen]
	g := st.geoms[r.vol]
	_, blen := g.BlockBounds(r.block)
	r.mask, r.body = nil, p
	if r.h.flags&flagPages != 0 {
		pages := g.BlockPages(r.block)
		n := maskWireLen(pages)
		m, _, ok := parseMask(p[:n], pages, r.maskBuf)
		if !ok {
			return r.fail("page mask selects no page, every page or a page past the block")
		}
		r.mask, r.maskBuf, r.body = m, m, p[n:]
	}
	switch r.kind {
	case RecordData:
		r.want = selectedLen(r.mask, blen)
		if r.count > 1 {
			r.want = runLen(g, r.block, r.count)
		}
		if r.h.flags&flagZstd != 0 {
			if len(r.body) >= r.want {
				return r.fail(fmt.Sprintf("compressed data of %d bytes for %d bytes", len(r.body), r.want))
			}
		} else if len(r.body) != r.want {
			return r.fail(fmt.Sprintf("raw data of %d bytes for %d bytes", len(r.body), r.want))
		}
		if r.h.flags&flagSource != 0 {
			if len(st.sources) >= MaxCopySources {
				return r.fail(fmt.Sprintf("more than %d copy sources", MaxCopySources))
			}
			if st.sources == nil {
				st.sources = make(map[blockAddr]struct{})
			}
			st.sources[blockAddr{r.vol, r.block}] = struct{}{}
		}
	case RecordCopy:
		r.fromVol = int(binary.BigEndian.Uint16(p))
		fb := binary.BigEndian.Uint64(p[2:])
		r.fromBlock = int64(fb)
		if _, ok := st.sources[blockAddr{r.fromVol, r.fromBlock}]; !ok || fb > MaxVolumeSize {
			return r.fail(fmt.Sprintf("copy of volume %d block %d, which is no earlier source in this stream", r.fromVol, fb))
		}
		if _, flen := st.geoms[r.fromVol].BlockBounds(r.fromBlock); flen != blen {
			return r.fail(fmt.Sprintf("copy of a %d-byte block into a %d-byte one", flen, blen))
		}
	}
	return nil
}

// verifySum compares a record's checksum.
func (r *rawRecord) verifySum(ph payloadHasher) error {
	var phash [32]byte
	ph.sum(&phash, r.payload[:r.h.plen])
	var sum [checksumLen]byte
	recordChecksum(&sum, r.hdr[:], &phash)
	if sum != r.sum {
		return r.fail("record checksum mismatch")
	}
	return nil
}

// decodeData returns the plain bytes of a data record, decompressing into
// out (reused; grown to at most the block size) when needed.
func (r *rawRecord) decodeData(zd *zstd.Decoder, out []byte, blockSize int) ([]byte, []byte, error) {
	if r.h.flags&flagZstd == 0 {
		return r.body, out, nil
	}
	if cap(out) < r.want {
		// want is at most the block size, or MaxRunBytes for a run
		// (checkRun).
		putBuf(out)
		out = getBuf(max(r.want, blockSize))
	}
	// The frame must declare its size, so a bomb is refused before it
	// runs; the capacity limit stops a frame that lies about it.
	var fh zstd.Header
	if err := fh.Decode(r.body); err != nil || fh.Skippable || !fh.HasFCS || fh.FrameContentSize != uint64(r.want) {
		return nil, out, r.fail(fmt.Sprintf("zstd frame header does not declare the record's %d bytes", r.want))
	}
	if !oneZstdFrame(r.body, &fh) {
		return nil, out, r.fail("zstd data is not exactly one frame")
	}
	dst, err := zd.DecodeAll(r.body, out[:0:r.want])
	if err != nil {
		return nil, out, r.fail("zstd: " + err.Error())
	}
	if len(dst) != r.want || cap(dst) != r.want {
		return nil, out, r.fail(fmt.Sprintf("zstd data decompresses to %d bytes, want %d", len(dst), r.want))
	}
	return dst, out, nil
}

// oneZstdFrame reports whether body is exactly the one frame whose header
// is h (FORMAT.md: the payload is one zstd frame): its blocks, walked by
// their 3-byte headers to the one marked last, and its checksum, if any,
// end where body ends. zstd would decode a second frame after it.
func oneZstdFrame(body []byte, h *zstd.Header) bool {
	off := h.HeaderSize
	for {
		if off < 0 || len(body)-off < 3 {
			return false
		}
		bh := uint32(body[off]) | uint32(body[off+1])<<8 | uint32(body[off+2])<<16
		off += 3
		size := int(bh >> 3)
		switch (bh >> 1) & 3 {
		case 0, 2: // raw, compressed: size bytes follow
		case 1: // RLE: one byte follows
			size = 1
		default: // reserved
			return false
		}
		if len(body)-off < size {
			return false
		}
		off += size
		if bh&1 != 0 {
			break
		}
	}
	if h.HasCheckSum {
		off += 4
	}
	return off == len(body)
}
