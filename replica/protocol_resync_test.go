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
