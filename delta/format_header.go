package delta

import (
	"encoding/binary"
	"fmt"
	"slices"

	"github.com/zeebo/blake3"
)

// appendHeader appends the whole header (prefix, body, checksum) of a
// validated h to b, for a stream of format version 1.
func appendHeader(b []byte, h *Header) []byte { return appendHeaderVersion(b, h, FormatVersion1) }

// appendHeaderVersion appends the whole header of a validated h to b, for
// a stream of format version.
func appendHeaderVersion(b []byte, h *Header, version uint16) []byte {
	start := len(b)
	b = append(b, streamMagic[:]...)
	b = binary.BigEndian.AppendUint16(b, version)
	lenAt := len(b)
	b = binary.BigEndian.AppendUint32(b, 0)
	body := len(b)
	b = append(b, byte(len(h.Group)))
	b = append(b, h.Group...)
	b = append(b, h.Base[:]...)
	b = append(b, h.New[:]...)
	b = binary.BigEndian.AppendUint64(b, timeToWire(h.Time))
	b = append(b, byte(h.Consistency))
	b = binary.BigEndian.AppendUint32(b, uint32(h.BlockSize))
	b = binary.BigEndian.AppendUint16(b, uint16(len(h.Volumes)))
	for _, v := range h.Volumes {
		b = append(b, byte(len(v.ID)))
		b = append(b, v.ID...)
		b = binary.BigEndian.AppendUint64(b, uint64(v.Size))
	}
	b = binary.BigEndian.AppendUint32(b, uint32(len(h.Meta)))
	b = append(b, h.Meta...)
	binary.BigEndian.PutUint32(b[lenAt:], uint32(len(b)-body))
	sum := blake3.Sum256(b[start:])
	return append(b, sum[:checksumLen]...)
}

// headerLimits are the reader's own bounds on a header.
type headerLimits struct {
	maxVolumes   int
	maxBlockSize int
}

// bodyReader walks a header body, turning every overrun into a
// *CorruptError at the offset in the stream.
type bodyReader struct {
	b   []byte
	p   int
	off int64 // stream offset of b[0]
}

func (r *bodyReader) fail(reason string) error { return corrupt(r.off+int64(r.p), "header: "+reason) }

func (r *bodyReader) take(n int, what string) ([]byte, error) {
	if n > len(r.b)-r.p {
		return nil, r.fail(what + " runs past the header")
	}
	v := r.b[r.p : r.p+n]
	r.p += n
	return v, nil
}

func (r *bodyReader) u8(what string) (uint8, error) {
	v, err := r.take(1, what)
	if err != nil {
		return 0, err
	}
	return v[0], nil
}

func (r *bodyReader) u16(what string) (uint16, error) {
	v, err := r.take(2, what)
	if err != nil {
		return 0, err
	}
	return binary.BigEndian.Uint16(v), nil
}

func (r *bodyReader) u32(what string) (uint32, error) {
	v, err := r.take(4, what)
	if err != nil {
		return 0, err
	}
	return binary.BigEndian.Uint32(v), nil
}

func (r *bodyReader) u64(what string) (uint64, error) {
	v, err := r.take(8, what)
	if err != nil {
		return 0, err
	}
	return binary.BigEndian.Uint64(v), nil
}

// parseHeaderBody decodes a header body whose checksum already matched.
// Format violations give a *CorruptError; values past the reader's own
// limits give an error wrapping ErrLimit.
func parseHeaderBody(body []byte, off int64, lim headerLimits) (*Header, error) {
	r := &bodyReader{b: body, off: off}
	h := &Header{}
	n, err := r.u8("group length")
	if err != nil {
		return nil, err
	}
	g, err := r.take(int(n), "group id")
	if err != nil {
		return nil, err
	}
	h.Group = string(g)
	if err := checkGroupID(h.Group); err != nil {
		return nil, r.fail(err.Error())
	}
	base, err := r.take(16, "base point")
	if err != nil {
		return nil, err
	}
	copy(h.Base[:], base)
	np, err := r.take(16, "new point")
	if err != nil {
		return nil, err
	}
	copy(h.New[:], np)
	if h.New.IsZero() || h.New == h.Base {
		return nil, r.fail("new point is zero or equals base")
	}
	t, err := r.u64("time")
	if err != nil {
		return nil, err
	}
	if t == 0 {
		return nil, r.fail("time is zero")
	}
	h.Time = timeFromWire(t)
	c, err := r.u8("consistency")
	if err != nil {
		return nil, err
	}
	h.Consistency = Consistency(c)
	if h.Consistency != ConsistencyCrash && h.Consistency != ConsistencyApp {
		return nil, r.fail(fmt.Sprintf("unknown consistency %d", c))
	}
	bs, err := r.u32("block size")
	if err != nil {
		return nil, err
	}
	if err := (Geometry{BlockSize: int(bs)}).Validate(); err != nil {
		return nil, r.fail(fmt.Sprintf("block size %d", bs))
	}
	if int(bs) > lim.maxBlockSize {
		return nil, fmt.Errorf("%w: block size %d exceeds the reader's limit %d", ErrLimit, bs, lim.maxBlockSize)
	}
	h.BlockSize = int(bs)
	nv, err := r.u16("volume count")
	if err != nil {
		return nil, err
	}
	if nv < 1 || nv > MaxVolumes {
		return nil, r.fail(fmt.Sprintf("%d volumes, want 1..%d", nv, MaxVolumes))
	}
	if int(nv) > lim.maxVolumes {
		return nil, fmt.Errorf("%w: %d volumes exceed the reader's limit %d", ErrLimit, nv, lim.maxVolumes)
	}
	// Each entry takes at least 10 bytes, so nv is bounded by the body
	// that was already read and bounded: the allocation is safe.
	if int(nv)*10 > len(body)-r.p {
		return nil, r.fail("volume list runs past the header")
	}
	h.Volumes = make([]VolumeInfo, nv)
	for i := range h.Volumes {
		n, err := r.u8("volume id length")
		if err != nil {
			return nil, err
		}
		id, err := r.take(int(n), "volume id")
		if err != nil {
			return nil, err
		}
		h.Volumes[i].ID = string(id)
		if err := checkVolumeID(h.Volumes[i].ID); err != nil {
			return nil, r.fail(err.Error())
		}
		size, err := r.u64("volume size")
		if err != nil {
			return nil, err
		}
		if size > MaxVolumeSize {
			return nil, r.fail(fmt.Sprintf("volume %d size %d exceeds %d", i, size, int64(MaxVolumeSize)))
		}
		h.Volumes[i].Size = int64(size)
	}
	ml, err := r.u32("metadata length")
	if err != nil {
		return nil, err
	}
	if ml > MaxMeta {
		return nil, r.fail(fmt.Sprintf("metadata of %d bytes exceeds %d", ml, MaxMeta))
	}
	meta, err := r.take(int(ml), "metadata")
	if err != nil {
		return nil, err
	}
	if ml > 0 {
		h.Meta = slices.Clone(meta)
	}
	if r.p != len(body) {
		return nil, r.fail(fmt.Sprintf("%d bytes left over", len(body)-r.p))
	}
	return h, nil
}
