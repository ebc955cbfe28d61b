package delta

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"os"
)

// stage holds verified records between Apply's check and write passes:
// the first bytes in memory, the rest in a temporary file.
type stage struct {
	dir    string
	limit  int64 // bytes kept in memory
	chunks [][]byte
	mem    int64
	file   *os.File
	fw     *bufio.Writer
}

const stageChunk = 1 << 20

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

// add stages one record.
func (s *stage) add(e *stageEntry, mask PageMask, data []byte) error {
	var hdr [stageEntryLen + 8*MaxPagesPerBlock/64]byte
	e.maskWords, e.dataLen = len(mask), len(data)
	e.put(hdr[:])
	n := stageEntryLen
	for _, w := range mask {
		binary.LittleEndian.PutUint64(hdr[n:], w)
		n += 8
	}
	if err := s.write(hdr[:n]); err != nil {
		return err
	}
	return s.write(data)
}

func (s *stage) write(p []byte) error {
	for len(p) > 0 && s.mem < s.limit {
		if len(s.chunks) == 0 || len(s.chunks[len(s.chunks)-1]) == stageChunk {
			s.chunks = append(s.chunks, make([]byte, 0, stageChunk))
		}
		c := &s.chunks[len(s.chunks)-1]
		n := min(len(p), stageChunk-len(*c), int(s.limit-s.mem))
		*c = append(*c, p[:n]...)
		s.mem += int64(n)
		p = p[n:]
	}
	if len(p) == 0 {
		return nil
	}
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

// reader returns the staged bytes from the start.
func (s *stage) reader() (io.Reader, error) {
	rs := make([]io.Reader, 0, len(s.chunks)+1)
	for _, c := range s.chunks {
		rs = append(rs, bytes.NewReader(c))
	}
	if s.file != nil {
		if err := s.fw.Flush(); err != nil {
			return nil, fmt.Errorf("delta: apply: staging file: %w", err)
		}
		if _, err := s.file.Seek(0, io.SeekStart); err != nil {
			return nil, fmt.Errorf("delta: apply: staging file: %w", err)
		}
		rs = append(rs, bufio.NewReaderSize(s.file, 256<<10))
	}
	return io.MultiReader(rs...), nil
}

// close removes the staging file, if any.
func (s *stage) close() error {
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
