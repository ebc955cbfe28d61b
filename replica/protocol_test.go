package replica

import (
	"errors"
	"testing"
	"time"

	"github.com/blockrep/blockrep/checkpoint"
	"github.com/blockrep/blockrep/delta"
	"github.com/blockrep/blockrep/transport"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func sampleMessages() []message {
	p1 := delta.PointID{1, 2, 3}
	p2 := delta.PointID{9, 8, 7}
	at := time.Date(2026, 11, 25, 12, 0, 0, 123, time.UTC)
	return []message{
		helloMsg{Version: ProtocolVersion, Group: "vm-1", Point: p1},
		statusQueryMsg{Group: "g"},
		statusMsg{Version: 2, Group: "vm.2", Exists: true, State: Replicating, Latest: p2, Time: at, Points: 7},
		statusMsg{Version: 2, Group: "absent"},
		createGroupMsg{
			Group: "vm1", BlockSize: 65536,
			Volumes:   []delta.VolumeInfo{{ID: "disk 0", Size: 1 << 30}, {ID: "d1", Size: 0}},
			Retention: checkpoint.Retention{Additional: 24, Spacing: time.Hour, KeepApp: true},
			Meta:      []byte("<vm/>"), Failover: []byte("ip=10.0.0.2"),
		},
		deltaStartMsg{Group: "vm1", Base: p1, New: p2},
		deltaStartMsg{Group: "vm1", New: p2},
		ackMsg{Group: "vm1", Point: p2, Hash: delta.Hash{5}, Time: at, Replayed: true},
		ackMsg{Group: "vm1"},
		nackMsg{Code: CodeUnauthorized, Message: "no"},
		nackMsg{Code: CodeInternal},
	}
}

func TestMessageRoundTrip(t *testing.T) {
	for _, m := range sampleMessages() {
		t.Run(m.kind().String(), func(t *testing.T) {
			require.NoError(t, checkMessage(m))
			b := appendMessage(nil, m)
			got, err := decodeMessage(b)
			require.NoError(t, err)
			assert.Equal(t, m, got)
			// Every strict prefix of the body is refused, and so is a
			// trailing byte, even under a checksum that matches.
			body := appendMessageBody(nil, m)
			for n := range len(body) {
				_, err := decodeMessage(sealed(body[:n]))
				assert.ErrorIs(t, err, ErrProtocol, "prefix of %d bytes", n)
			}
			_, err = decodeMessage(sealed(append(body, 0)))
			assert.ErrorIs(t, err, ErrProtocol)
		})
	}
}

func TestMsgTypeString(t *testing.T) {
	cases := map[msgType]string{
		msgHello:        "Hello",
		msgStatus:       "Status",
		msgStatusQuery:  "StatusQuery",
		msgCreateGroup:  "CreateGroup",
		msgDeltaStart:   "DeltaStart",
		msgAck:          "Ack",
		msgNack:         "Nack",
		msgResyncQuery:  "ResyncQuery",
		msgResyncHashes: "ResyncHashes",
		0:               "msgType(0)",
		8:               "msgType(8)",
		18:              "msgType(18)",
	}
	for typ, want := range cases {
		assert.Equal(t, want, typ.String(), "type %d", uint8(typ))
	}
	// Every message this package sends has a name.
	for _, m := range append(sampleMessages(), sampleResyncMessages(t)...) {
		assert.NotContains(t, m.kind().String(), "msgType(", "%T", m)
	}
}

func TestDecodeRefusesHostileFields(t *testing.T) {
	// The frames are message bodies, sealed with a matching checksum below:
	// the fields are what is hostile.
	valid := appendMessageBody(nil, createGroupMsg{Group: "g", BlockSize: 4096, Volumes: []delta.VolumeInfo{{ID: "v", Size: 1}}})
	cases := []struct {
		name  string
		frame []byte
	}{
		{"empty", nil},
		{"unknown type", []byte{0x7f}},
		{"group id with slash", appendMessageBody(nil, statusQueryMsg{Group: "../x"})},
		{"empty group id", []byte{byte(msgStatusQuery), 0}},
		{"bool 2", func() []byte {
			b := appendMessageBody(nil, ackMsg{Group: "g"})
			b[len(b)-1] = 2
			return b
		}()},
		{"volume count past the frame", func() []byte {
			b := append([]byte(nil), valid[:1+2+4]...)
			return append(b, 0x01, 0x00) // 256 volumes announced, none present
		}()},
		{"zero volumes", func() []byte {
			b := append([]byte(nil), valid[:1+2+4]...)
			return append(b, 0, 0)
		}()},
		{"metadata longer than its limit", func() []byte {
			b := appendMessageBody(nil, createGroupMsg{Group: "g", BlockSize: 4096, Volumes: []delta.VolumeInfo{{ID: "v", Size: 1}}})
			// Meta length sits before the failover blob32 (4 bytes of zero).
			off := len(b) - 8
			b[off], b[off+1], b[off+2], b[off+3] = 0xff, 0xff, 0xff, 0xff
			return b
		}()},
		{"nack code 0", []byte{byte(msgNack), 0, 0, 0}},
		{"nack text too long", []byte{byte(msgNack), byte(CodeInternal), 0xff, 0xff}},
		{"delta with zero new point", appendMessageBody(nil, deltaStartMsg{Group: "g"})},
		{"status with unknown state", func() []byte {
			b := appendMessageBody(nil, statusMsg{Group: "g"})
			b[1+2+2+1] = 200
			return b
		}()},
		{"oversized frame", make([]byte, MaxMessageSize+1)},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := decodeMessage(sealed(c.frame))
			assert.ErrorIs(t, err, ErrProtocol)
		})
	}
}

func TestRemoteErrorMapsCodes(t *testing.T) {
	cases := map[Code]error{
		CodeProtocol:       ErrProtocol,
		CodeVersion:        ErrVersion,
		CodeUnauthorized:   transport.ErrUnauthorized,
		CodeUnknownGroup:   ErrUnknownGroup,
		CodeGroupExists:    ErrGroupExists,
		CodeBaseMismatch:   checkpoint.ErrBaseMismatch,
		CodeVolumeMismatch: checkpoint.ErrVolumeMismatch,
		CodeCorrupt:        delta.ErrCorrupt,
		CodeLimit:          delta.ErrLimit,
		CodeInternal:       ErrRemoteInternal,
		CodeStateConflict:  ErrInvalidState,
		CodeSplitBrain:     ErrSplitBrain,
		CodeNoCommonPoint:  ErrNoCommonPoint,
		CodeSeedMissing:    ErrSeedMissing,
	}
	require.Len(t, cases, int(codeCount)-1)
	for code, want := range cases {
		err := error(&RemoteError{Code: code, Message: "x"})
		assert.ErrorIs(t, err, want, code.String())
		assert.Equal(t, code == CodeInternal || code == CodeCorrupt || code == CodeSeedMissing, transport.IsTemporary(err), code.String())
		assert.Equal(t, code, codeOf(want), "codeOf(%v)", want)
	}
	var re *RemoteError
	assert.True(t, errors.As(error(&RemoteError{Code: CodeCorrupt}), &re))
}

func TestGroupRecordRoundTrip(t *testing.T) {
	b := encodeGroupRecord([]byte("meta"), []byte("fo"))
	m, f, err := decodeGroupRecord(b)
	require.NoError(t, err)
	assert.Equal(t, []byte("meta"), m)
	assert.Equal(t, []byte("fo"), f)
	for n := range len(b) {
		_, _, err := decodeGroupRecord(b[:n])
		assert.ErrorIs(t, err, ErrProtocol)
	}
}

// FuzzMessage checks that the decoder never panics, never accepts a frame
// it would not write back identically, and refuses what it refuses with
// ErrProtocol. The input is a message body, sealed with a matching
// checksum so that the fuzzer reaches the fields (FuzzMessageFrame fuzzes
// whole frames).
func FuzzMessage(f *testing.F) {
	for _, m := range sampleMessages() {
		f.Add(appendMessageBody(nil, m))
	}
	for _, m := range sampleResyncMessages(f) {
		f.Add(appendMessageBody(nil, m))
	}
	for _, m := range sampleUpdateMessages() { // update_group_msg_test.go
		f.Add(appendMessageBody(nil, m))
	}
	f.Add([]byte{byte(msgCreateGroup), 1, 'g', 0, 0, 16, 0, 0xff, 0xff})
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
		again := appendMessage(nil, m)
		if string(again) != string(frame) {
			t.Fatalf("round trip changed the frame:\n in %x\nout %x", frame, again)
		}
	})
}

// FuzzGroupRecord checks the decoder of the group record a replica keeps
// in its store: no panic, ErrProtocol on refusal, and a record it accepts
// encodes back to the same bytes.
func FuzzGroupRecord(f *testing.F) {
	f.Add(encodeGroupRecord([]byte("meta"), []byte("ip=1")))
	f.Add(encodeGroupRecord(nil, nil))
	f.Add([]byte("BRGR1\xff\xff\xff\xff"))
	f.Fuzz(func(t *testing.T, b []byte) {
		rec, err := decodeRecord(b)
		if err != nil {
			if !errors.Is(err, ErrProtocol) {
				t.Fatalf("error %v does not wrap ErrProtocol", err)
			}
			return
		}
		if again := encodeRecord(rec); string(again) != string(b) {
			t.Fatalf("round trip changed the record:\n in %x\nout %x", b, again)
		}
	})
}
