package delta

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
)

// stage holds verified records between Apply's check and write passes:
// the first ones in memory, the rest in a temporary file. In memory it
// keeps the very buffers the records were read and decompressed into, so a
// record's bytes are not copied on the way from the stream to the target.
type stage struct {
	dir     string
	limit   int64 // bytes kept in memory
	mem     int64
	entries []memEntry
	masks   []uint64 // the masks of entries, back to back
	file    *os.File
	fw      *bufio.Writer
}

// memEntry is a record staged in memory.
type memEntry struct {
	e     stageEntry
	mask  int    // offset of its mask words in stage.masks
	data  []byte // inside owned
	owned []byte // a buffer from getBuf, recycled by close
}

// stageEntry is the fixed front of one staged record.
type stageEntry struct {
	kind      RecordKind
	vol       int
	block     int64
	count     int64
	fromVol   int
	fromBlock int64
	maskWords int
	dataLen   int
}

const stageEntryLen = 40

func (e *stageEntry) put(b []byte) {
	b[0] = byte(e.kind)
	b[1] = 0
	binary.LittleEndian.PutUint16(b[2:], uint16(e.vol))
	binary.LittleEndian.PutUint32(b[4:], uint32(e.dataLen))
	binary.LittleEndian.PutUint64(b[8:], uint64(e.block))
	binary.LittleEndian.PutUint64(b[16:], uint64(e.count))
	binary.LittleEndian.PutUint64(b[24:], uint64(e.fromBlock))
	binary.LittleEndian.PutUint16(b[32:], uint16(e.fromVol))
	binary.LittleEndian.PutUint16(b[34:], uint16(e.maskWords))
	binary.LittleEndian.PutUint32(b[36:], 0)
}

func (e *stageEntry) get(b []byte) {
	e.kind = RecordKind(b[0])
	e.vol = int(binary.LittleEndian.Uint16(b[2:]))
	e.dataLen = int(binary.LittleEndian.Uint32(b[4:]))
	e.block = int64(binary.LittleEndian.Uint64(b[8:]))
	e.count = int64(binary.LittleEndian.Uint64(b[16:]))
	e.fromBlock = int64(binary.LittleEndian.Uint64(b[24:]))
	e.fromVol = int(binary.LittleEndian.Uint16(b[32:]))
	e.maskWords = int(binary.LittleEndian.Uint16(b[34:]))
}

// add stages one record whose data, if any, lies in owned, a buffer from
// getBuf. It reports whether the stage took owned; if not, the caller
// keeps it and the record went to the file.
func (s *stage) add(e *stageEntry, mask PageMask, data, owned []byte) (bool, error) {
	e.maskWords, e.dataLen = len(mask), len(data)
	size := int64(stageEntryLen + 8*len(mask) + cap(owned))
	if s.file == nil && s.mem+size <= s.limit {
		s.entries = append(s.entries, memEntry{e: *e, mask: len(s.masks), data: data, owned: owned})
		s.masks = append(s.masks, mask...)
		s.mem += size
		return owned != nil, nil
	}
	var hdr [stageEntryLen + 8*MaxPagesPerBlock/64]byte
	e.put(hdr[:])
	n := stageEntryLen
	for _, w := range mask {
		binary.LittleEndian.PutUint64(hdr[n:], w)
		n += 8
	}
	if err := s.spill(hdr[:n]); err != nil {
		return false, err
	}
	return false, s.spill(data)
}

func (s *stage) spill(p []byte) error {
	if s.file == nil {
		dir := s.dir
		if dir == "" {
			dir = os.TempDir()
		}
		f, err := os.CreateTemp(dir, "blockrep-apply-*.stage")
		if err != nil {
			return fmt.Errorf("delta: apply: staging file: %w", err)
		}
		s.file, s.fw = f, bufio.NewWriterSize(f, 256<<10)
	}
	if _, err := s.fw.Write(p); err != nil {
		return fmt.Errorf("delta: apply: staging file: %w", err)
	}
	return nil
}

// each calls f for every staged entry in order. The mask and data are
// valid only during the call.
func (s *stage) each(f func(e *stageEntry, mask PageMask, data []byte) error) error {
	var maskBuf [MaxPagesPerBlock / 64]uint64
	var e stageEntry
	parseMask := func(b []byte) PageMask {
		if e.maskWords == 0 {
			return nil
		}
		m := PageMask(maskBuf[:e.maskWords])
		for i := range m {
			m[i] = binary.LittleEndian.Uint64(b[8*i:])
		}
		return m
	}
	for i := range s.entries {
		me := &s.entries[i]
		var m PageMask
		if me.e.maskWords > 0 {
			m = s.masks[me.mask : me.mask+me.e.maskWords]
		}
		if err := f(&me.e, m, me.data); err != nil {
			return err
		}
	}
	if s.file == nil {
		return nil
	}
	if err := s.fw.Flush(); err != nil {
		return fmt.Errorf("delta: apply: staging file: %w", err)
	}
	if _, err := s.file.Seek(0, io.SeekStart); err != nil {
		return fmt.Errorf("delta: apply: staging file: %w", err)
	}
	r := bufio.NewReaderSize(s.file, 256<<10)
	var hdr [stageEntryLen + 8*MaxPagesPerBlock/64]byte
	var data []byte
	for {
		if _, err := io.ReadFull(r, hdr[:stageEntryLen]); err != nil {
			if errors.Is(err, io.EOF) {
				return nil
			}
			return fmt.Errorf("delta: apply: read stage: %w", err)
		}
		e.get(hdr[:])
		n := stageEntryLen + 8*e.maskWords
		if cap(data) < e.dataLen {
			data = make([]byte, e.dataLen)
		}
		data = data[:e.dataLen]
		if _, err := io.ReadFull(r, hdr[stageEntryLen:n]); err != nil {
			return fmt.Errorf("delta: apply: read stage: %w", err)
		}
		if _, err := io.ReadFull(r, data); err != nil {
			return fmt.Errorf("delta: apply: read stage: %w", err)
		}
		if err := f(&e, parseMask(hdr[stageEntryLen:n]), data); err != nil {
			return err
		}
	}
}

// close returns the memory chunks and removes the staging file, if any.
func (s *stage) close() error {
	for _, me := range s.entries {
		putBuf(me.owned)
	}
	s.entries, s.masks = nil, nil
	if s.file == nil {
		return nil
	}
	name := s.file.Name()
	err := s.file.Close()
	if rerr := os.Remove(name); err == nil {
		err = rerr
	}
	s.file = nil
	return err
}
