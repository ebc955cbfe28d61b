package delta

import (
	"fmt"
)

// runLen is the number of bytes blocks [block, block+count) of a volume
// of geometry g cover; the caller has checked that they lie inside it.
func runLen(g Geometry, block, count int64) int {
	off, _ := g.BlockBounds(block)
	last, llen := g.BlockBounds(block + count - 1)
	return int(last + int64(llen) - off)
}

// checkRun checks the header of a data record that covers more than one
// block (a data run, FORMAT.md): only in version 2, compressed, about
// whole blocks, no copy source, at most MaxRunBytes, its frame smaller
// than the bytes it covers. The caller checked that the blocks lie
// inside the volume, so their length is computed without overflow.
func (st *recordState) checkRun(r *rawRecord, g Geometry) error {
	h := &r.h
	if !st.runs {
		return r.fail(fmt.Sprintf("data record covers %d blocks in a version 1 stream", r.count))
	}
	if h.flags != flagZstd {
		return r.fail(fmt.Sprintf("data run flags 0x%02x", h.flags))
	}
	if r.count > int64(MaxRunBytes/g.BlockSize) {
		return r.fail(fmt.Sprintf("data run of %d blocks of %d bytes exceeds %d bytes", r.count, g.BlockSize, MaxRunBytes))
	}
	if n := runLen(g, r.block, r.count); int(h.plen) >= n || h.plen == 0 {
		return r.fail(fmt.Sprintf("data run payload of %d bytes for %d bytes", h.plen, n))
	}
	return nil
}

// runSplit hands out the blocks of a decoded data run one record at a
// time, so that a Decoder's records are about one block each whatever the
// stream's format version: a block of a run that is all zero bytes comes
// out as a zero record, which an applier may skip on a volume it knows is
// zero.
type runSplit struct {
	data  []byte // the run's bytes still to hand out
	vol   int
	block int64 // the next block
	end   int64
}

// next fills rec with the next block of the run and reports whether there
// was one.
func (s *runSplit) next(g Geometry, rec *Record) bool {
	if s.block >= s.end {
		s.data = nil
		return false
	}
	_, blen := g.BlockBounds(s.block)
	b := s.data[:blen]
	*rec = Record{Volume: s.vol, Kind: RecordData, Block: s.block, Count: 1, Data: b}
	if isZero(b) {
		rec.Kind, rec.Data = RecordZero, nil
	}
	s.data = s.data[blen:]
	s.block++
	return true
}
