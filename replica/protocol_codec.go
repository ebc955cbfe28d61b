package replica

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"math"
	"time"

	"github.com/blockrep/blockrep/checkpoint"
	"github.com/blockrep/blockrep/delta"
)

// checksumSize is the length of the CRC-32C that ends every control
// message frame.
const checksumSize = 4

// castagnoli is the CRC-32C table of the control message checksum.
var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// appendMessage appends m's wire form to b: its type and fields, then the
// CRC-32C of those bytes.
func appendMessage(b []byte, m message) []byte {
	start := len(b)
	b = appendMessageBody(b, m)
	return sealMessage(b, start)
}

// sealMessage appends the big-endian CRC-32C of b[start:], the message
// written from start on.
func sealMessage(b []byte, start int) []byte {
	return binary.BigEndian.AppendUint32(b, crc32.Checksum(b[start:], castagnoli))
}

// appendMessageBody appends m's type and fields to b, without the checksum.
func appendMessageBody(b []byte, m message) []byte {
	b = append(b, byte(m.kind()))
	switch m := m.(type) {
	case helloMsg:
		b = binary.BigEndian.AppendUint16(b, m.Version)
		b = appendStr8(b, m.Group)
		b = append(b, m.Point[:]...)
	case statusQueryMsg:
		b = appendStr8(b, m.Group)
	case statusMsg:
		b = binary.BigEndian.AppendUint16(b, m.Version)
		b = appendStr8(b, m.Group)
		b = appendBool(b, m.Exists)
		b = append(b, byte(m.State))
		b = append(b, m.Latest[:]...)
		b = appendTime(b, m.Time)
		b = binary.BigEndian.AppendUint32(b, m.Points)
	case createGroupMsg:
		b = appendStr8(b, m.Group)
		b = binary.BigEndian.AppendUint32(b, m.BlockSize)
		b = binary.BigEndian.AppendUint16(b, uint16(len(m.Volumes)))
		for _, v := range m.Volumes {
			b = appendStr8(b, v.ID)
			b = binary.BigEndian.AppendUint64(b, uint64(v.Size))
		}
		b = binary.BigEndian.AppendUint32(b, uint32(m.Retention.Additional))
		b = binary.BigEndian.AppendUint64(b, uint64(m.Retention.Spacing))
		b = appendBool(b, m.Retention.KeepApp)
		b = appendBlob32(b, m.Meta)
		b = appendBlob32(b, m.Failover)
	case deltaStartMsg:
		b = appendStr8(b, m.Group)
		b = append(b, m.Base[:]...)
		b = append(b, m.New[:]...)
	case ackMsg:
		b = appendAck(b, m)
	case promotedMsg:
		b = appendAck(b, ackMsg(m))
	case resyncQueryMsg:
		b = m.appendBody(b)
	case resyncHashesMsg:
		b = m.appendBody(b)
	case resyncPagesQueryMsg:
		b = m.appendBody(b)
	case resyncPageHashesMsg:
		b = m.appendBody(b)
	case promoteMsg:
		b = m.appendBody(b)
	case reverseQueryMsg:
		b = m.appendBody(b)
	case reverseInfoMsg:
		b = m.appendBody(b)
	case updateGroupMsg:
		b = m.appendBody(b)
	case nackMsg:
		b = append(b, byte(m.Code))
		msg := m.Message
		if len(msg) > MaxNackMessage {
			msg = msg[:MaxNackMessage]
		}
		b = binary.BigEndian.AppendUint16(b, uint16(len(msg)))
		b = append(b, msg...)
	}
	return b
}

func appendStr8(b []byte, s string) []byte {
	b = append(b, byte(len(s)))
	return append(b, s...)
}

func appendBool(b []byte, v bool) []byte {
	if v {
		return append(b, 1)
	}
	return append(b, 0)
}

func appendBlob32(b, p []byte) []byte {
	b = binary.BigEndian.AppendUint32(b, uint32(len(p)))
	return append(b, p...)
}

func appendTime(b []byte, t time.Time) []byte {
	var ns int64
	if !t.IsZero() {
		ns = t.UnixNano()
	}
	return binary.BigEndian.AppendUint64(b, uint64(ns))
}

// checkMessage reports whether m may be sent: every field within the
// limits decodeMessage enforces, so a message this side accepts to send is
// one the other side accepts to read.
func checkMessage(m message) error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: %s: %s", ErrInvalidConfig, m.kind(), fmt.Sprintf(format, args...))
	}
	group := ""
	switch m := m.(type) {
	case helloMsg:
		group = m.Group
	case statusQueryMsg:
		group = m.Group
	case statusMsg:
		group = m.Group
	case deltaStartMsg:
		group = m.Group
	case ackMsg:
		group = m.Group
	case promotedMsg:
		group = m.Group
	case resyncQueryMsg:
		group = m.Group
		if why := m.check(); why != "" {
			return bad("%s", why)
		}
	case resyncHashesMsg:
		group = m.Group
		if why := m.check(); why != "" {
			return bad("%s", why)
		}
	case resyncPagesQueryMsg:
		group = m.Group
		if why := m.check(); why != "" {
			return bad("%s", why)
		}
	case resyncPageHashesMsg:
		group = m.Group
		if why := m.check(); why != "" {
			return bad("%s", why)
		}
	case promoteMsg:
		group = m.Group
		if why := m.check(); why != "" {
			return bad("%s", why)
		}
	case reverseQueryMsg:
		group = m.Group
	case reverseInfoMsg:
		group = m.Group
		if why := m.check(); why != "" {
			return bad("%s", why)
		}
	case updateGroupMsg:
		group = m.Group
		if why := m.check(); why != "" {
			return bad("%s", why)
		}
	case createGroupMsg:
		group = m.Group
		if len(m.Volumes) < 1 || len(m.Volumes) > delta.MaxVolumes {
			return bad("%d volumes, want 1..%d", len(m.Volumes), delta.MaxVolumes)
		}
		for i, v := range m.Volumes {
			if !validVolumeID(v.ID) {
				return bad("volume %d: invalid id %q", i, v.ID)
			}
			if v.Size < 0 || v.Size > delta.MaxVolumeSize {
				return bad("volume %d: size %d", i, v.Size)
			}
		}
		if m.Retention.Additional < 0 || m.Retention.Additional >= checkpoint.MaxPoints || m.Retention.Spacing < 0 {
			return bad("retention %+v", m.Retention)
		}
		if len(m.Meta) > delta.MaxMeta {
			return bad("metadata of %d bytes exceeds %d", len(m.Meta), delta.MaxMeta)
		}
		if len(m.Failover) > MaxFailoverSettings {
			return bad("failover settings of %d bytes exceed %d", len(m.Failover), MaxFailoverSettings)
		}
	case nackMsg:
		return nil
	}
	if checkpoint.ValidGroupID(group) != nil {
		return bad("invalid group id %q", group)
	}
	return nil
}

// validVolumeID is the delta format's rule for volume ids: 1..255 bytes
// 0x20..0x7E except '/', not "." or "..".
func validVolumeID(id string) bool {
	if len(id) == 0 || len(id) > delta.MaxIDLen || id == "." || id == ".." {
		return false
	}
	for i := 0; i < len(id); i++ {
		if c := id[i]; c < 0x20 || c > 0x7e || c == '/' {
			return false
		}
	}
	return true
}

// decodeMessage parses one frame, checking its checksum before anything
// else: a frame damaged on the way is refused, never read as another
// message. Every error wraps ErrProtocol.
func decodeMessage(frame []byte) (message, error) {
	if len(frame) > MaxMessageSize {
		return nil, fmt.Errorf("%w: message of %d bytes exceeds %d", ErrProtocol, len(frame), MaxMessageSize)
	}
	if len(frame) < 1+checksumSize {
		return nil, fmt.Errorf("%w: frame of %d bytes is too short for a message", ErrProtocol, len(frame))
	}
	body := frame[:len(frame)-checksumSize]
	want := binary.BigEndian.Uint32(frame[len(body):])
	if got := crc32.Checksum(body, castagnoli); got != want {
		return nil, fmt.Errorf("%w: message checksum %08x, frame says %08x (damaged on the way)", ErrProtocol, got, want)
	}
	return decodeMessageBody(body)
}

// decodeMessageBody parses a message's type and fields, the frame without
// its checksum.
func decodeMessageBody(frame []byte) (message, error) {
	r := &wireReader{b: frame}
	t := msgType(r.u8())
	var m message
	switch t {
	case msgHello:
		h := helloMsg{Version: r.u16(), Group: r.groupID()}
		r.point(&h.Point)
		m = h
	case msgStatusQuery:
		m = statusQueryMsg{Group: r.groupID()}
	case msgStatus:
		s := statusMsg{Version: r.u16(), Group: r.groupID(), Exists: r.boolean()}
		s.State = State(r.u8())
		if s.State >= stateCount {
			r.fail("unknown state %d", s.State)
		}
		r.point(&s.Latest)
		s.Time = r.time()
		s.Points = r.u32()
		m = s
	case msgCreateGroup:
		c := createGroupMsg{Group: r.groupID(), BlockSize: r.u32()}
		n := int(r.u16())
		// An entry is at least 1+1+8 bytes: bound the slice by the frame.
		if n < 1 || n > delta.MaxVolumes || n*10 > r.left() {
			r.fail("volume count %d", n)
			n = 0
		}
		if n > 0 {
			c.Volumes = make([]delta.VolumeInfo, n)
		}
		for i := range c.Volumes {
			c.Volumes[i].ID = r.str8()
			if r.err == nil && !validVolumeID(c.Volumes[i].ID) {
				r.fail("volume %d: invalid id %q", i, c.Volumes[i].ID)
			}
			size := r.u64()
			if size > delta.MaxVolumeSize {
				r.fail("volume %d: size %d", i, size)
			}
			c.Volumes[i].Size = int64(size)
		}
		add := r.u32()
		if add >= checkpoint.MaxPoints {
			r.fail("retention of %d points", add)
		}
		c.Retention.Additional = int(add)
		spacing := r.u64()
		if spacing > math.MaxInt64 {
			r.fail("retention spacing %d", spacing)
		}
		c.Retention.Spacing = time.Duration(spacing)
		c.Retention.KeepApp = r.boolean()
		c.Meta = r.blob32(delta.MaxMeta)
		c.Failover = r.blob32(MaxFailoverSettings)
		m = c
	case msgDeltaStart:
		d := deltaStartMsg{Group: r.groupID()}
		r.point(&d.Base)
		r.point(&d.New)
		if r.err == nil && (d.New.IsZero() || d.New == d.Base) {
			r.fail("new point %s with base %s", d.New, d.Base)
		}
		m = d
	case msgAck:
		m = decodeAck(r)
	case msgPromoted:
		m = promotedMsg(decodeAck(r))
	case msgResyncQuery:
		m = decodeResyncQuery(r)
	case msgResyncHashes:
		m = decodeResyncHashes(r)
	case msgResyncPagesQuery:
		m = decodeResyncPagesQuery(r)
	case msgResyncPageHashes:
		m = decodeResyncPageHashes(r)
	case msgPromote:
		m = decodePromote(r)
	case msgReverseQuery:
		m = decodeReverseQuery(r)
	case msgReverseInfo:
		m = decodeReverseInfo(r)
	case msgUpdateGroup:
		m = decodeUpdateGroup(r)
	case msgNack:
		n := nackMsg{Code: Code(r.u8())}
		if n.Code == 0 || n.Code >= codeCount {
			r.fail("unknown code %d", n.Code)
		}
		l := int(r.u16())
		if l > MaxNackMessage {
			r.fail("nack text of %d bytes", l)
		}
		n.Message = string(r.take(l))
		m = n
	default:
		if r.err == nil {
			r.fail("unknown message type %d", uint8(t))
		}
	}
	if r.err == nil && r.left() != 0 {
		r.fail("%d bytes after a %s", r.left(), t)
	}
	if r.err != nil {
		return nil, r.err
	}
	return m, nil
}

// wireReader reads fields from a frame; the first problem sticks in err and
// makes every later read return zero values.
type wireReader struct {
	b   []byte
	off int
	err error
}

func (r *wireReader) fail(format string, args ...any) {
	if r.err == nil {
		r.err = fmt.Errorf("%w: %s (at byte %d)", ErrProtocol, fmt.Sprintf(format, args...), r.off)
	}
}

func (r *wireReader) left() int { return len(r.b) - r.off }

// take returns the next n bytes (inside the frame: no allocation).
func (r *wireReader) take(n int) []byte {
	if r.err != nil {
		return nil
	}
	if n < 0 || n > r.left() {
		r.fail("field of %d bytes, %d left", n, r.left())
		return nil
	}
	p := r.b[r.off : r.off+n]
	r.off += n
	return p
}

func (r *wireReader) u8() uint8 {
	if p := r.take(1); p != nil {
		return p[0]
	}
	return 0
}

func (r *wireReader) u16() uint16 {
	if p := r.take(2); p != nil {
		return binary.BigEndian.Uint16(p)
	}
	return 0
}

func (r *wireReader) u32() uint32 {
	if p := r.take(4); p != nil {
		return binary.BigEndian.Uint32(p)
	}
	return 0
}

func (r *wireReader) u64() uint64 {
	if p := r.take(8); p != nil {
		return binary.BigEndian.Uint64(p)
	}
	return 0
}

func (r *wireReader) bytes(dst []byte) {
	if p := r.take(len(dst)); p != nil {
		copy(dst, p)
	}
}

func (r *wireReader) point(dst *delta.PointID) { r.bytes(dst[:]) }

func (r *wireReader) boolean() bool {
	switch v := r.u8(); v {
	case 0:
		return false
	case 1:
		return true
	default:
		r.fail("flag byte %d", v)
		return false
	}
}

func (r *wireReader) time() time.Time {
	ns := int64(r.u64())
	if ns == 0 {
		return time.Time{}
	}
	return time.Unix(0, ns).UTC()
}

func (r *wireReader) str8() string {
	n := int(r.u8())
	return string(r.take(n))
}

func (r *wireReader) groupID() string {
	id := r.str8()
	if r.err == nil {
		if err := checkpoint.ValidGroupID(id); err != nil {
			r.fail("invalid group id %q", id)
		}
	}
	return id
}

// blob32 reads a length-prefixed blob, checking the length against limit
// and the frame before copying it out (the frame's storage is reused).
func (r *wireReader) blob32(limit int) []byte {
	n := r.u32()
	if r.err != nil {
		return nil
	}
	if n > uint32(limit) {
		r.fail("blob of %d bytes exceeds %d", n, limit)
		return nil
	}
	p := r.take(int(n))
	if p == nil || len(p) == 0 {
		return nil
	}
	return append([]byte(nil), p...)
}

// appendAck appends the fields of an Ack (and of a Promoted, which has the
// same ones).
func appendAck(b []byte, m ackMsg) []byte {
	b = appendStr8(b, m.Group)
	b = append(b, m.Point[:]...)
	b = append(b, m.Hash[:]...)
	b = appendTime(b, m.Time)
	return appendBool(b, m.Replayed)
}

// decodeAck reads the fields appendAck wrote.
func decodeAck(r *wireReader) ackMsg {
	a := ackMsg{Group: r.groupID()}
	r.point(&a.Point)
	r.bytes(a.Hash[:])
	a.Time = r.time()
	a.Replayed = r.boolean()
	return a
}
