package replica

import (
	"errors"
	"testing"

	"github.com/blockrep/blockrep/delta"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func sampleResyncMessages(t testing.TB) []message {
	nodes := delta.NewSet(4096)
	nodes.AddRange(10, 5)
	nodes.Add(4000)
	enc, err := nodes.AppendBinary(nil)
	require.NoError(t, err)
	return []message{
		resyncQueryMsg{Group: "vm1", Point: delta.PointID{1}, Volume: 3, Fanout: delta.DefaultFanout, Level: 2, Nodes: enc},
		resyncHashesMsg{Group: "vm1", Point: delta.PointID{1}, Volume: 3, Level: 2, Digests: []nodeDigest{{1}, {2}, {3, 4}}},
		resyncHashesMsg{Group: "vm1", Point: delta.PointID{1}},
		resyncPagesQueryMsg{Group: "vm1", Point: delta.PointID{2}, Volume: 1, Key: [ResyncPageKeySize]byte{7, 8}, Size: 6, Blocks: enc},
		resyncPageHashesMsg{Group: "vm1", Point: delta.PointID{2}, Volume: 1, Digests: []byte{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12}},
		resyncPageHashesMsg{Group: "vm1", Point: delta.PointID{2}},
	}
}

func TestResyncMessageRoundTrip(t *testing.T) {
	for _, m := range sampleResyncMessages(t) {
		require.NoError(t, checkMessage(m))
		b := appendMessage(nil, m)
		got, err := decodeMessage(b)
		require.NoError(t, err)
		assert.Equal(t, m, got)
		body := appendMessageBody(nil, m)
		for n := range len(body) {
			_, err := decodeMessage(sealed(body[:n]))
			assert.ErrorIs(t, err, ErrProtocol, "prefix of %d bytes", n)
		}
		_, err = decodeMessage(sealed(append(body, 0)))
		assert.ErrorIs(t, err, ErrProtocol)
	}
}

func TestResyncMessageHostileFields(t *testing.T) {
	q := sampleResyncMessages(t)[0].(resyncQueryMsg)
	h := sampleResyncMessages(t)[1].(resyncHashesMsg)
	withQuery := func(f func(*resyncQueryMsg)) []byte {
		m := q
		f(&m)
		return appendMessageBody(nil, m)
	}
	hashes := appendMessageBody(nil, h) // bodies: sealed with a matching checksum below
	cases := []struct {
		name  string
		frame []byte
	}{
		{"fan-out 1", withQuery(func(m *resyncQueryMsg) { m.Fanout = 1 })},
		{"fan-out past the bound", withQuery(func(m *resyncQueryMsg) { m.Fanout = delta.MaxFanout + 1 })},
		{"volume past the bound", withQuery(func(m *resyncQueryMsg) { m.Volume = delta.MaxVolumes })},
		{"empty node set", withQuery(func(m *resyncQueryMsg) { m.Nodes = nil })},
		{"node set past its bound", withQuery(func(m *resyncQueryMsg) { m.Nodes = make([]byte, MaxResyncSetBytes+1) })},
		{"hashes not a whole number", func() []byte {
			b := append([]byte(nil), hashes[:len(hashes)-3*ResyncDigestSize-4]...)
			b = append(b, 0, 0, 0, 17)
			return append(b, make([]byte, 17)...)
		}()},
		{"hashes length past the bound", func() []byte {
			b := append([]byte(nil), hashes[:len(hashes)-3*ResyncDigestSize-4]...)
			return append(b, 0xff, 0xff, 0xff, 0xe0) // 4 GiB announced, nothing present
		}()},
		{"hashes length past the frame", func() []byte {
			b := append([]byte(nil), hashes[:len(hashes)-3*ResyncDigestSize-4]...)
			return append(b, 0, 0, 1, 0) // 16 digests announced, none present
		}()},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := decodeMessage(sealed(c.frame))
			assert.ErrorIs(t, err, ErrProtocol)
		})
	}
	// A query this side would refuse to read is refused to send as well.
	bad := q
	bad.Fanout = 0
	assert.ErrorIs(t, checkMessage(bad), ErrInvalidConfig)
	tooMany := h
	tooMany.Digests = make([]nodeDigest, MaxResyncNodes+1)
	assert.ErrorIs(t, checkMessage(tooMany), ErrInvalidConfig)
}

// FuzzResyncMessage checks the decoder on resync frames: no panic,
// ErrProtocol on refusal, and a frame it accepts encodes back identically.
// The input is a message body under a matching checksum.
func FuzzResyncMessage(f *testing.F) {
	for _, m := range sampleResyncMessages(f) {
		f.Add(appendMessageBody(nil, m))
	}
	f.Add([]byte{byte(msgResyncHashes), 1, 'g', 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff})
	f.Fuzz(func(t *testing.T, body []byte) {
		frame := sealed(body)
		m, err := decodeMessage(frame)
		if err != nil {
			if !errors.Is(err, ErrProtocol) {
				t.Fatalf("error %v does not wrap ErrProtocol", err)
			}
			return
		}
		if err := checkMessage(m); err != nil {
			if _, ok := m.(nackMsg); !ok {
				t.Fatalf("decoded %+v fails checkMessage: %v", m, err)
			}
		}
		if again := appendMessage(nil, m); string(again) != string(frame) {
			t.Fatalf("round trip changed the frame:\n in %x\nout %x", frame, again)
		}
	})
}

func TestChunkSet(t *testing.T) {
	want := delta.NewSet(100)
	want.AddRange(0, 7)
	want.AddRange(50, 10)
	want.Add(99)
	var got []int64
	union := delta.NewSet(100)
	for c := range chunkSet(want, 4) {
		got = append(got, c.Count())
		require.NoError(t, union.Union(c))
	}
	assert.Equal(t, []int64{4, 4, 4, 4, 2}, got)
	assert.True(t, union.Equal(want))
}

func TestResyncHashesSize(t *testing.T) {
	for _, m := range sampleResyncMessages(t) {
		switch m := m.(type) {
		case resyncHashesMsg:
			assert.Equal(t, len(appendMessage(nil, m)), resyncHashesSize(m))
		case resyncPageHashesMsg:
			assert.Equal(t, len(appendMessage(nil, m)), resyncPageHashesSize(m))
		}
	}
}

// decodePagesBody decodes the body of a page query (query true) or answer,
// without type byte or checksum, as decodeMessage does after both.
func decodePagesBody(body []byte, query bool) (message, error) {
	r := &wireReader{b: body}
	var m message
	if query {
		m = decodeResyncPagesQuery(r)
	} else {
		m = decodeResyncPageHashes(r)
	}
	if r.err == nil && r.left() != 0 {
		r.fail("%d bytes after the message", r.left())
	}
	return m, r.err
}

func TestResyncPagesHostileFields(t *testing.T) {
	q := sampleResyncMessages(t)[3].(resyncPagesQueryMsg)
	a := sampleResyncMessages(t)[4].(resyncPageHashesMsg)
	query := func(f func(*resyncPagesQueryMsg)) []byte {
		m := q
		f(&m)
		return m.appendBody(nil)
	}
	answer := func(f func(*resyncPageHashesMsg)) []byte {
		m := a
		f(&m)
		return m.appendBody(nil)
	}
	announce := func(n uint32) []byte { // an answer announcing n digest bytes, holding none
		b := answer(func(m *resyncPageHashesMsg) { m.Digests = nil })
		return append(b[:len(b)-4], byte(n>>24), byte(n>>16), byte(n>>8), byte(n))
	}
	cases := []struct {
		name  string
		query bool
		body  []byte
	}{
		{"volume past the bound", true, query(func(m *resyncPagesQueryMsg) { m.Volume = delta.MaxVolumes })},
		{"digest size below the bound", true, query(func(m *resyncPagesQueryMsg) { m.Size = MinResyncPageDigest - 1 })},
		{"digest size past the bound", true, query(func(m *resyncPagesQueryMsg) { m.Size = MaxResyncPageDigest + 1 })},
		{"empty block set", true, query(func(m *resyncPagesQueryMsg) { m.Blocks = nil })},
		{"block set past its bound", true, query(func(m *resyncPagesQueryMsg) { m.Blocks = make([]byte, MaxResyncSetBytes+1) })},
		{"query cut short", true, query(func(*resyncPagesQueryMsg) {})[:40]},
		{"answer volume past the bound", false, answer(func(m *resyncPageHashesMsg) { m.Volume = delta.MaxVolumes })},
		{"digests past the bound", false, announce(MaxResyncPageDigests*MaxResyncPageDigest + 1)},
		{"digests past the frame", false, announce(256)},
		{"4 GiB of digests announced", false, announce(0xffffffff)},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := decodePagesBody(c.body, c.query)
			assert.ErrorIs(t, err, ErrProtocol)
		})
	}
	// The bodies themselves decode, so the cases above fail on the field
	// they change.
	for _, m := range []message{q, a} {
		var body []byte
		switch m := m.(type) {
		case resyncPagesQueryMsg:
			body = m.appendBody(nil)
		case resyncPageHashesMsg:
			body = m.appendBody(nil)
		}
		got, err := decodePagesBody(body, m.kind() == msgResyncPagesQuery)
		require.NoError(t, err)
		assert.Equal(t, m, got)
	}
	// What this side would refuse to read it refuses to send.
	badQ := q
	badQ.Size = 0
	assert.ErrorIs(t, checkMessage(badQ), ErrInvalidConfig)
	badA := a
	badA.Digests = make([]byte, MaxResyncPageDigests*MaxResyncPageDigest+1)
	assert.ErrorIs(t, checkMessage(badA), ErrInvalidConfig)
}

// FuzzResyncPagesBody checks the page query and answer decoders on bodies
// that reach them whole (past type byte and checksum): no panic,
// ErrProtocol on refusal, digests within their bound, and a body they
// accept encodes back identically.
func FuzzResyncPagesBody(f *testing.F) {
	for _, m := range sampleResyncMessages(f) {
		switch m := m.(type) {
		case resyncPagesQueryMsg:
			f.Add(true, m.appendBody(nil))
		case resyncPageHashesMsg:
			f.Add(false, m.appendBody(nil))
		}
	}
	f.Fuzz(func(t *testing.T, query bool, body []byte) {
		m, err := decodePagesBody(body, query)
		if err != nil {
			if !errors.Is(err, ErrProtocol) {
				t.Fatalf("error %v does not wrap ErrProtocol", err)
			}
			return
		}
		if err := checkMessage(m); err != nil {
			t.Fatalf("decoded %+v fails checkMessage: %v", m, err)
		}
		var again []byte
		switch m := m.(type) {
		case resyncPagesQueryMsg:
			again = m.appendBody(nil)
		case resyncPageHashesMsg:
			if len(m.Digests) > MaxResyncPageDigests*MaxResyncPageDigest {
				t.Fatalf("%d digest bytes accepted", len(m.Digests))
			}
			again = m.appendBody(nil)
		}
		if string(again) != string(body) {
			t.Fatalf("round trip changed the body:\n in %x\nout %x", body, again)
		}
	})
}

// The largest page query and answer a peer may send fit a message.
func TestResyncPagesFitAMessage(t *testing.T) {
	const frame = 1 + 1 + 255 + len(delta.PointID{}) + 2 + 4 + checksumSize // type, group, point, volume, blob length, checksum
	assert.LessOrEqual(t, frame+MaxResyncPageDigests*MaxResyncPageDigest, MaxMessageSize)
	assert.LessOrEqual(t, frame+ResyncPageKeySize+1+MaxResyncSetBytes, MaxMessageSize)
	// The bound on blocks a query names keeps its answer within the bound
	// on digests, whatever the block size.
	for _, bs := range []int{delta.MinBlockSize, 64 << 10, delta.MaxBlockSize} {
		g := delta.Geometry{Size: 1 << 40, BlockSize: bs}
		assert.LessOrEqual(t, resyncPageBlocks(g)*int64(bs/delta.PageSize), int64(MaxResyncPageDigests), "block size %d", bs)
	}
}
