package replica

import (
	"errors"
	"testing"
	"time"

	"github.com/blockrep/blockrep/delta"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func sampleRoleMessages(t testing.TB) []message {
	s := delta.NewSet(64)
	s.AddRange(1, 5)
	known := knownChanges(delta.PointID{3}, delta.PointID{4}, []*delta.Set{s})
	vols := []delta.VolumeInfo{{ID: "disk0", Size: 64 * 4096}}
	return []message{
		promoteMsg{Group: "vm-1", Point: delta.PointID{1}, ReverseTo: "hv1:7300"},
		promoteMsg{Group: "vm-1", Point: delta.PointID{1}},
		promotedMsg{Group: "vm-1", Point: delta.PointID{1}, Hash: delta.Hash{7}, Time: time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC), Replayed: true},
		reverseQueryMsg{Group: "vm-1", Point: delta.PointID{2}},
		reverseInfoMsg{Group: "vm-1", Latest: delta.PointID{5}, BlockSize: 4096, Volumes: vols, Changes: known},
		reverseInfoMsg{Group: "vm-1", Latest: delta.PointID{5}, BlockSize: 4096, Volumes: vols, Changes: changeMap{Kind: changesUnknown}},
		reverseInfoMsg{Group: "vm-1", Latest: delta.PointID{5}, BlockSize: 4096, Volumes: vols, Changes: changeMap{Kind: changesUnknown, Since: delta.PointID{3}}},
		reverseInfoMsg{Group: "vm-1", BlockSize: 4096, Volumes: vols},
	}
}

func TestRoleMessagesRoundTrip(t *testing.T) {
	for _, m := range sampleRoleMessages(t) {
		require.NoError(t, checkMessage(m))
		b := appendMessage(nil, m)
		got, err := decodeMessage(b)
		require.NoError(t, err, "%s", m.kind())
		assert.Equal(t, m, got)
		body := appendMessageBody(nil, m)
		for n := range len(body) {
			_, err := decodeMessage(sealed(body[:n]))
			assert.ErrorIs(t, err, ErrProtocol, "%s cut at %d", m.kind(), n)
		}
	}
	assert.Equal(t, "Promote", msgPromote.String())
	assert.Equal(t, "Promoted", msgPromoted.String())
	assert.Equal(t, "ReverseQuery", msgReverseQuery.String())
	assert.Equal(t, "ReverseInfo", msgReverseInfo.String())
}

func TestRoleMessagesRefused(t *testing.T) {
	for _, m := range []message{
		promoteMsg{Group: "vm-1"},
		promoteMsg{Group: "vm-1", Point: delta.PointID{1}, ReverseTo: string(make([]byte, 256))},
		reverseInfoMsg{Group: "vm-1"},
		reverseInfoMsg{Group: "vm-1", Volumes: []delta.VolumeInfo{{ID: "a/b", Size: 1}}},
		reverseInfoMsg{Group: "vm-1", Volumes: []delta.VolumeInfo{{ID: "a", Size: 1}}, Changes: changeMap{Kind: changesUnknown, Sets: [][]byte{{1}}}},
		reverseInfoMsg{Group: "vm-1", Volumes: []delta.VolumeInfo{{ID: "a", Size: 1}}, Changes: changeMap{Kind: 3}},
		reverseQueryMsg{Group: "../x"},
	} {
		assert.ErrorIs(t, checkMessage(m), ErrInvalidConfig, "%+v", m)
	}
}

// FuzzRoleMessages checks the decoders of Promote, ReverseQuery and
// ReverseInfo: no panic, ErrProtocol on refusal, and a frame accepted is
// one checkMessage accepts and that encodes back to the same bytes. The
// input is a message body under a matching checksum.
func FuzzRoleMessages(f *testing.F) {
	for _, m := range sampleRoleMessages(f) {
		f.Add(appendMessageBody(nil, m))
	}
	f.Add([]byte{byte(msgReverseInfo), 1, 'g'})
	f.Fuzz(func(t *testing.T, body []byte) {
		frame := sealed(body)
		m, err := decodeMessage(frame)
		if err != nil {
			if !errors.Is(err, ErrProtocol) {
				t.Fatalf("error %v does not wrap ErrProtocol", err)
			}
			return
		}
		if nack, ok := m.(nackMsg); !ok || len(nack.Message) <= MaxNackMessage {
			if err := checkMessage(m); err != nil {
				t.Fatalf("decoded %+v fails checkMessage: %v", m, err)
			}
		}
		if again := appendMessage(nil, m); string(again) != string(frame) {
			t.Fatalf("round trip changed the frame:\n in %x\nout %x", frame, again)
		}
	})
}
