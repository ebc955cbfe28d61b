package delta

import (
	"errors"
	"fmt"
	"time"
)

// Limits of the delta stream format v2 (see FORMAT.md). A reader checks
// every length against them before it allocates anything for it.
const (
	// FormatVersion is the newest stream version this package writes and
	// reads: version 2 adds data runs, data records that cover several
	// consecutive whole blocks in one zstd frame. An Encoder writes
	// version 1 when runs are off (WithRunBytes(0)), so that readers that
	// know only version 1 read its streams.
	FormatVersion = 2
	// FormatVersion1 is the first stream version, without data runs; this
	// package still reads it.
	FormatVersion1 = 1
	// MaxRunBytes bounds the bytes a data run covers (decompressed): the
	// memory a reader needs for one record.
	MaxRunBytes = 8 << 20
	// MaxVolumes bounds the volumes of one group in a stream.
	MaxVolumes = 256
	// MaxMeta bounds a stream's opaque metadata blob.
	MaxMeta = 1 << 20
	// MaxIDLen bounds a group id and a volume id, in bytes.
	MaxIDLen = 255
	// MaxHeaderBytes bounds the header body.
	MaxHeaderBytes = MaxMeta + 128<<10
	// MaxRecordPayload bounds the payload of any record, known or not,
	// but a data run's, which is below MaxRunBytes.
	MaxRecordPayload = MaxBlockSize + 1<<10
	// MaxCopySources bounds the data records a stream may mark as the
	// source of later copy records, and so the encoder's dedup table.
	MaxCopySources = 1 << 16
)

// ErrHeader is returned by NewEncoder when the Header it is given breaks a
// rule of the format (an empty or malformed group or volume id, a zero new
// point, too many volumes, metadata past MaxMeta).
var ErrHeader = errors.New("delta: invalid stream header")

var streamMagic = [8]byte{0x89, 'B', 'R', 'D', 'E', 'L', 'T', '\n'}

// Consistency says how a recovery point was taken.
type Consistency uint8

const (
	// ConsistencyCrash is a point as a power cut would leave it.
	ConsistencyCrash Consistency = 0
	// ConsistencyApp is a point taken while a quiesce hook held the
	// applications' writes.
	ConsistencyApp Consistency = 1
)

func (c Consistency) String() string {
	switch c {
	case ConsistencyCrash:
		return "crash-consistent"
	case ConsistencyApp:
		return "application-consistent"
	}
	return fmt.Sprintf("Consistency(%d)", uint8(c))
}

// VolumeInfo names one volume of a group in a stream header.
type VolumeInfo struct {
	ID   string // 1..255 bytes 0x20..0x7E, no '/', not "." or ".."
	Size int64  // bytes, 0..MaxVolumeSize
}

// Header is what a stream says about itself before its records.
type Header struct {
	Group       string       // group id, 1..255 bytes of [A-Za-z0-9._-]
	Base        PointID      // zero: a full stream (initial replication)
	New         PointID      // the point the stream produces; non-zero, != Base
	Time        time.Time    // the instant New represents (freeze time), kept as UTC ns
	Consistency Consistency  // ConsistencyCrash or ConsistencyApp
	BlockSize   int          // power of two, MinBlockSize..MaxBlockSize
	Volumes     []VolumeInfo // 1..MaxVolumes
	Meta        []byte       // opaque metadata (the VM configuration), ≤ MaxMeta bytes
}

// Validate reports whether h may be written, with an error wrapping
// ErrHeader (or ErrGeometry for the block size or a volume size).
func (h *Header) Validate() error {
	if err := checkGroupID(h.Group); err != nil {
		return err
	}
	if h.New.IsZero() {
		return fmt.Errorf("%w: new point id is zero", ErrHeader)
	}
	if h.New == h.Base {
		return fmt.Errorf("%w: new point id equals base", ErrHeader)
	}
	if h.Time.IsZero() || h.Time.UnixNano() == 0 || h.Time.Year() < 1678 || h.Time.Year() > 2261 {
		return fmt.Errorf("%w: time %v outside the representable range", ErrHeader, h.Time)
	}
	if h.Consistency != ConsistencyCrash && h.Consistency != ConsistencyApp {
		return fmt.Errorf("%w: unknown consistency %d", ErrHeader, h.Consistency)
	}
	if len(h.Volumes) < 1 || len(h.Volumes) > MaxVolumes {
		return fmt.Errorf("%w: %d volumes, want 1..%d", ErrHeader, len(h.Volumes), MaxVolumes)
	}
	for i, v := range h.Volumes {
		if err := checkVolumeID(v.ID); err != nil {
			return fmt.Errorf("volume %d: %w", i, err)
		}
		if err := (Geometry{Size: v.Size, BlockSize: h.BlockSize}).Validate(); err != nil {
			return fmt.Errorf("volume %d (%s): %w", i, v.ID, err)
		}
	}
	if len(h.Meta) > MaxMeta {
		return fmt.Errorf("%w: metadata of %d bytes exceeds %d", ErrHeader, len(h.Meta), MaxMeta)
	}
	return nil
}

// Geometry returns the geometry of volume vol of the stream.
func (h *Header) Geometry(vol int) Geometry {
	return Geometry{Size: h.Volumes[vol].Size, BlockSize: h.BlockSize}
}

// Geometries returns the geometry of every volume of the stream, in order.
func (h *Header) Geometries() []Geometry {
	g := make([]Geometry, len(h.Volumes))
	for i := range h.Volumes {
		g[i] = h.Geometry(i)
	}
	return g
}

func checkGroupID(s string) error {
	if len(s) < 1 || len(s) > MaxIDLen {
		return fmt.Errorf("%w: group id of %d bytes, want 1..%d", ErrHeader, len(s), MaxIDLen)
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		ok := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-'
		if !ok {
			return fmt.Errorf("%w: group id %q: byte 0x%02x not in [A-Za-z0-9._-]", ErrHeader, s, c)
		}
	}
	return nil
}

func checkVolumeID(s string) error {
	if len(s) < 1 || len(s) > MaxIDLen {
		return fmt.Errorf("%w: volume id of %d bytes, want 1..%d", ErrHeader, len(s), MaxIDLen)
	}
	if s == "." || s == ".." {
		return fmt.Errorf("%w: volume id %q", ErrHeader, s)
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c > 0x7e || c == '/' {
			return fmt.Errorf("%w: volume id %q: byte 0x%02x not allowed", ErrHeader, s, c)
		}
	}
	return nil
}

// RecordKind says what a Record carries.
type RecordKind uint8

// Record kinds. Whether data travelled raw or zstd-compressed is a detail
// of the wire: a Decoder always hands out the plain bytes.
const (
	// RecordData carries the new bytes of a block or of some of its pages.
	RecordData RecordKind = 1
	// RecordZero says the blocks (or the pages of one block) are all zero.
	RecordZero RecordKind = 2
	// RecordCopy says a block equals one sent earlier in the same stream.
	RecordCopy RecordKind = 3
)

func (k RecordKind) String() string {
	switch k {
	case RecordData:
		return "data"
	case RecordZero:
		return "zero"
	case RecordCopy:
		return "copy"
	}
	return fmt.Sprintf("RecordKind(%d)", uint8(k))
}

// Wire details of a record (FORMAT.md).
const (
	kindTrailer    = 0x00
	kindSkippable  = 0x80
	flagPages      = 0x01
	flagZstd       = 0x02
	flagSource     = 0x04
	recHeaderLen   = 24
	checksumLen    = 16
	copyPayloadLen = 10
	trailerLen     = 1 + 8 + 32
	prefixLen      = 8 + 2 + 4
)

// Record is one change of a delta stream, as a Decoder hands it out.
type Record struct {
	Volume int        // index into Header.Volumes
	Kind   RecordKind // RecordData, RecordZero or RecordCopy
	Block  int64      // first block
	Count  int64      // blocks covered: ≥ 1; > 1 only for zero runs
	// Pages is nil when the record is about whole blocks; otherwise it
	// holds the pages of Block (Count is then 1) the record is about. Like
	// Data, it is valid until the next Next call.
	Pages PageMask
	// Data holds, for RecordData, the selected pages' bytes concatenated
	// in page order (the whole block when Pages is nil); the last page of
	// a short last block is short. It is valid until the next Next call.
	Data []byte
	// FromVolume and FromBlock name, for RecordCopy, the block whose
	// content this block now has. That block appeared earlier in the same
	// stream as a whole-block data record, so an applier reads it back
	// from the target it already wrote.
	FromVolume int
	FromBlock  int64
}

// timeToWire and timeFromWire carry Header.Time as signed nanoseconds.
func timeToWire(t time.Time) uint64 { return uint64(t.UnixNano()) }

func timeFromWire(v uint64) time.Time { return time.Unix(0, int64(v)).UTC() }
