package delta

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"

	"github.com/klauspost/compress/zstd"
	"github.com/zeebo/blake3"
)

// Decoder reads a delta stream front to back: NewDecoder reads and checks
// the header, each Next returns one record after checking its checksum and
// every length against its limit, and io.EOF comes only after the trailer's
// record count and whole-stream hash matched.
//
// A record is handed out before the stream is known to be whole, so a
// caller that must not act on a bad stream verifies it first (Verify,
// Apply) or keeps undo data while it applies (the checkpoint store).
type Decoder struct {
	sr  *streamReader
	cfg decoderConfig
	h   *Header
	st  recordState
	raw rawRecord
	ph  payloadHasher
	zd  *zstd.Decoder
	out []byte
	rec Record
	run runSplit // the blocks of a data run not handed out yet
	err error    // sticky: every later Next returns it
}

// NewDecoder reads the header of the stream in r and checks it. Errors are
// a *CorruptError for a malformed header, ErrMismatch for one that WithExpect
// refuses, ErrLimit for one past the caller's limits, or r's read error.
func NewDecoder(r io.Reader, opts ...DecoderOption) (*Decoder, error) {
	cfg := defaultDecoderConfig()
	for _, o := range opts {
		if err := o(&cfg); err != nil {
			return nil, err
		}
	}
	d := &Decoder{sr: newStreamReader(r, cfg.maxStreamBytes), cfg: cfg, ph: newPayloadHasher()}
	h, err := d.readHeader()
	if err != nil {
		return nil, err
	}
	d.h = h
	d.st.geoms = h.Geometries()
	return d, nil
}

func (d *Decoder) readHeader() (*Header, error) {
	var prefix [prefixLen]byte
	if err := d.sr.full(prefix[:], true, "header"); err != nil {
		return nil, err
	}
	if !bytes.Equal(prefix[:8], streamMagic[:]) {
		return nil, corrupt(0, "not a delta stream (bad magic)")
	}
	v := binary.BigEndian.Uint16(prefix[8:])
	if v != FormatVersion && v != FormatVersion1 {
		return nil, corrupt(8, fmt.Sprintf("unsupported format version %d", v))
	}
	d.st.runs = v >= FormatVersion
	n := binary.BigEndian.Uint32(prefix[10:])
	if n < 1 || n > MaxHeaderBytes {
		return nil, corrupt(10, fmt.Sprintf("header of %d bytes, want 1..%d", n, MaxHeaderBytes))
	}
	buf := make([]byte, prefixLen+int(n)+checksumLen)
	copy(buf, prefix[:])
	if err := d.sr.full(buf[prefixLen:], true, "header"); err != nil {
		return nil, err
	}
	end := prefixLen + int(n)
	sum := blake3.Sum256(buf[:end])
	if !bytes.Equal(sum[:checksumLen], buf[end:]) {
		return nil, corrupt(int64(end), "header checksum mismatch")
	}
	h, err := parseHeaderBody(buf[prefixLen:end], prefixLen, headerLimits{maxVolumes: d.cfg.maxVolumes, maxBlockSize: d.cfg.maxBlockSize})
	if err != nil {
		return nil, err
	}
	if d.cfg.expect {
		if h.Group != d.cfg.group {
			return nil, fmt.Errorf("%w: stream of group %q, want %q", ErrMismatch, h.Group, d.cfg.group)
		}
		if h.Base != d.cfg.base {
			return nil, fmt.Errorf("%w: stream from base point %s, target is at %s", ErrMismatch, h.Base, d.cfg.base)
		}
	}
	return h, nil
}

// Header returns the stream's header. The caller must not modify it.
func (d *Decoder) Header() *Header { return d.h }

// Offset returns how many bytes of the stream were read so far.
func (d *Decoder) Offset() int64 { return d.sr.off }

// Next returns the next record, or io.EOF once the trailer checked out.
// The record and its Data are valid until the next call. Any other error
// is final: a *CorruptError, an error wrapping ErrLimit, or the reader's.
func (d *Decoder) Next() (*Record, error) {
	if d.err != nil {
		return nil, d.err
	}
	if d.run.next(d.h.Geometry(d.run.vol), &d.rec) {
		return &d.rec, nil
	}
	for {
		r := &d.raw
		err := d.readRaw(r)
		if err == nil {
			err = r.verifySum(d.ph)
		}
		if err != nil {
			d.fail(err)
			return nil, err
		}
		if r.skip {
			continue
		}
		rec := &d.rec
		*rec = Record{Volume: r.vol, Kind: r.kind, Block: r.block, Count: r.count, Pages: r.mask}
		switch r.kind {
		case RecordData:
			if d.zd == nil {
				d.zd = getZstdDecoder()
			}
			rec.Data, d.out, err = r.decodeData(d.zd, d.out, d.h.BlockSize)
			if err != nil {
				d.fail(err)
				return nil, err
			}
			if r.count > 1 {
				d.run = runSplit{data: rec.Data, vol: r.vol, block: r.block, end: r.block + r.count}
				d.run.next(d.h.Geometry(r.vol), rec)
			}
		case RecordCopy:
			rec.FromVolume, rec.FromBlock = r.fromVol, r.fromBlock
		}
		return rec, nil
	}
}

// Close releases the Decoder's buffers; later calls to Next return an
// error wrapping ErrClosed. Close is idempotent and never fails.
func (d *Decoder) Close() error {
	if d.err == nil || d.err == io.EOF {
		d.fail(fmt.Errorf("%w: decoder", ErrClosed))
	}
	return nil
}

func (d *Decoder) fail(err error) {
	d.err = err
	if d.zd != nil {
		putZstdDecoder(d.zd)
		d.zd = nil
	}
	// The last record's Data lived until this call: recycle its buffers.
	putBuf(d.out)
	putBuf(d.raw.payload)
	d.out, d.raw.payload = nil, nil
}

// readRaw reads the next record into r and checks its shape and place,
// but not its checksum. At the trailer it checks the count, the stream
// hash and the end of input, and returns io.EOF.
func (d *Decoder) readRaw(r *rawRecord) error {
	r.off = d.sr.off
	if err := d.sr.full(r.hdr[:1], true, "record header"); err != nil {
		return err
	}
	if r.hdr[0] == kindTrailer {
		return d.readTrailer()
	}
	if err := d.sr.full(r.hdr[1:], true, "record header"); err != nil {
		return err
	}
	r.h.get(r.hdr[:])
	if err := d.st.checkHeader(r); err != nil {
		return err
	}
	n := int(r.h.plen)
	if cap(r.payload) < n {
		// n is within MaxRecordPayload (below MaxRunBytes for a data
		// run) and, for a known kind, within the block size (the run's
		// bytes) the header allowed.
		r.payload = getBuf(max(n, d.h.BlockSize+MaxPagesPerBlock/8))[:n]
	}
	if err := d.sr.full(r.payload[:n], true, "record payload"); err != nil {
		return err
	}
	if err := d.sr.full(r.sum[:], true, "record checksum"); err != nil {
		return err
	}
	d.st.records++
	return d.st.checkPayload(r)
}

func (d *Decoder) readTrailer() error {
	off := d.sr.off - 1
	var cnt [8]byte
	if err := d.sr.full(cnt[:], true, "trailer"); err != nil {
		return err
	}
	var want [32]byte
	d.sr.h.Sum(want[:0])
	var got [32]byte
	if err := d.sr.full(got[:], false, "trailer"); err != nil {
		return err
	}
	if n := binary.BigEndian.Uint64(cnt[:]); n != d.st.records {
		return corrupt(off, fmt.Sprintf("trailer counts %d records, stream has %d", n, d.st.records))
	}
	if got != want {
		return corrupt(off+9, "stream hash mismatch")
	}
	if err := d.sr.end(); err != nil {
		return err
	}
	return io.EOF
}

// Verify reads the whole stream in r and checks everything Apply would
// check before writing: the header, every record's checksum, place and
// extent inside its volume, every decompressed length, and the trailer. It
// writes nothing and returns the header of a good stream.
func Verify(r io.Reader, opts ...DecoderOption) (*Header, error) {
	d, err := NewDecoder(r, opts...)
	if err != nil {
		return nil, err
	}
	defer d.Close()
	for {
		_, err := d.Next()
		if err == io.EOF {
			return d.h, nil
		}
		if err != nil {
			return nil, err
		}
	}
}
