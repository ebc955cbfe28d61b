package delta

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"fmt"
	"math/bits"

	"github.com/zeebo/blake3"
)

// zstdCap is the capacity of a slot's zstd buffer: the worst case of
// EncodeAll for a block (a little more than the block), so it never grows.
func zstdCap(bs int, compress bool) int {
	if !compress {
		return 0
	}
	return bs + bs/128 + 64
}

// encoderSlotBytes is the memory of one block in flight: the block, its
// zstd frame and its mask in wire form.
func encoderSlotBytes(bs int, compress bool) int64 {
	return int64(bs + zstdCap(bs, compress) + bs/PageSize/8 + 8)
}

// streamWriter writes the stream through a buffer, hashing every byte.
type streamWriter struct {
	w *bufio.Writer
	h *blake3.Hasher
	n int64
}

func (s *streamWriter) write(p []byte) error {
	s.h.Write(p)
	n, err := s.w.Write(p)
	s.n += int64(n)
	if err != nil {
		return fmt.Errorf("delta: write stream: %w", err)
	}
	return nil
}

func (s *streamWriter) trailer(count uint64) error {
	var t [trailerLen]byte
	t[0] = kindTrailer
	binary.BigEndian.PutUint64(t[1:], count)
	s.h.Write(t[:9])
	s.h.Sum(t[9:9])
	n, err := s.w.Write(t[:])
	s.n += int64(n)
	if err == nil {
		err = s.w.Flush()
	}
	if err != nil {
		return fmt.Errorf("delta: write stream: %w", err)
	}
	return nil
}

// recordWriter frames records onto a streamWriter.
type recordWriter struct {
	sw  *streamWriter
	st  *EncodeStats
	hdr [recHeaderLen]byte
}

func (w *recordWriter) record(h recHeader, phash *[32]byte, parts ...[]byte) error {
	for _, p := range parts {
		h.plen += uint32(len(p))
	}
	h.put(w.hdr[:])
	var sum [checksumLen]byte
	recordChecksum(&sum, w.hdr[:], phash)
	if err := w.sw.write(w.hdr[:]); err != nil {
		return err
	}
	for _, p := range parts {
		if err := w.sw.write(p); err != nil {
			return err
		}
	}
	w.st.Records++
	return w.sw.write(sum[:])
}

func (w *recordWriter) data(vol int, block, count int64, flags uint8, wmask, body []byte, phash *[32]byte) error {
	h := recHeader{kind: uint8(RecordData), flags: flags, volume: uint16(vol), block: uint64(block), count: uint64(count)}
	return w.record(h, phash, wmask, body)
}

func (w *recordWriter) zero(vol int, block, count int64, wmask []byte) error {
	h := recHeader{kind: uint8(RecordZero), volume: uint16(vol), block: uint64(block), count: uint64(count)}
	if len(wmask) > 0 {
		h.flags = flagPages
	}
	ph := blake3.Sum256(wmask)
	return w.record(h, &ph, wmask)
}

func (w *recordWriter) copy(vol int, block int64, from blockAddr) error {
	var p [copyPayloadLen]byte
	binary.BigEndian.PutUint16(p[:], uint16(from.vol))
	binary.BigEndian.PutUint64(p[2:], uint64(from.block))
	h := recHeader{kind: uint8(RecordCopy), volume: uint16(vol), block: uint64(block), count: 1}
	ph := blake3.Sum256(p[:])
	return w.record(h, &ph, p[:])
}

var zeroChunk [64 << 10]byte

// isZero reports whether every byte of p is zero.
func isZero(p []byte) bool {
	for len(p) > 0 {
		n := min(len(p), len(zeroChunk))
		if !bytes.Equal(p[:n], zeroChunk[:n]) {
			return false
		}
		p = p[n:]
	}
	return true
}

// setNext returns the smallest member of s that is ≥ i, or -1.
func setNext(s *Set, i int64) int64 {
	if i < 0 {
		i = 0
	}
	if i >= s.n {
		return -1
	}
	wi := i >> 6
	w := s.words[wi] &^ (1<<(uint(i)&63) - 1)
	for {
		if w != 0 {
			b := int64(wi)*64 + int64(bits.TrailingZeros64(w))
			if b >= s.n {
				return -1
			}
			return b
		}
		wi++
		if wi >= int64(len(s.words)) {
			return -1
		}
		w = s.words[wi]
	}
}
