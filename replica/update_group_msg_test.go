package replica

import (
	"bytes"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/blockrep/blockrep/checkpoint"
	"github.com/blockrep/blockrep/delta"
)

// sampleUpdateMessages are UpdateGroup messages of every shape, for the
// round-trip test and the FuzzMessage seeds.
func sampleUpdateMessages() []message {
	return []message{
		updateGroupMsg{Group: "vm1", Flags: updateMeta, Meta: []byte("<vm v2/>")},
		updateGroupMsg{Group: "vm1", Flags: updateFailover, Failover: []byte("ip=10.0.0.7")},
		updateGroupMsg{Group: "vm1", Flags: updateRetention, Retention: checkpoint.Retention{Additional: 24, Spacing: time.Hour, KeepApp: true}},
		updateGroupMsg{Group: "g", Flags: updateAll, Meta: []byte{}, Failover: []byte{}, Retention: checkpoint.Retention{}},
	}
}

func TestUpdateGroupMessage(t *testing.T) {
	for _, m := range sampleUpdateMessages() {
		require.NoError(t, checkMessage(m))
		frame := appendMessage(nil, m)
		got, err := decodeMessage(frame)
		require.NoError(t, err)
		assert.Equal(t, frame, appendMessage(nil, got), "%+v", m)
		u := got.(updateGroupMsg)
		assert.Equal(t, m.(updateGroupMsg).Flags, u.Flags)
		assert.True(t, bytes.Equal(m.(updateGroupMsg).Meta, u.Meta))
		assert.Equal(t, m.(updateGroupMsg).Retention, u.Retention)
	}
	assert.Equal(t, "UpdateGroup", msgUpdateGroup.String())

	bad := []struct {
		name string
		m    updateGroupMsg
	}{
		{"no flag", updateGroupMsg{Group: "g"}},
		{"unknown flag", updateGroupMsg{Group: "g", Flags: 1 << 3}},
		{"field not flagged", updateGroupMsg{Group: "g", Flags: updateMeta, Failover: []byte("x")}},
		{"retention not flagged", updateGroupMsg{Group: "g", Flags: updateMeta, Retention: checkpoint.Retention{Additional: 1}}},
		{"metadata too large", updateGroupMsg{Group: "g", Flags: updateMeta, Meta: make([]byte, delta.MaxMeta+1)}},
		{"settings too large", updateGroupMsg{Group: "g", Flags: updateFailover, Failover: make([]byte, MaxFailoverSettings+1)}},
		{"negative retention", updateGroupMsg{Group: "g", Flags: updateRetention, Retention: checkpoint.Retention{Additional: -1}}},
		{"retention too long", updateGroupMsg{Group: "g", Flags: updateRetention, Retention: checkpoint.Retention{Additional: checkpoint.MaxPoints}}},
		{"bad group", updateGroupMsg{Group: "../g", Flags: updateMeta}},
	}
	for _, tc := range bad {
		require.ErrorIs(t, checkMessage(tc.m), ErrInvalidConfig, tc.name)
	}

	// Hostile frames: every one refused with ErrProtocol, before any
	// allocation sized by them.
	frames := map[string][]byte{
		"flags 0":          {byte(msgUpdateGroup), 1, 'g', 0},
		"flags unknown":    {byte(msgUpdateGroup), 1, 'g', 0x08},
		"metadata huge":    {byte(msgUpdateGroup), 1, 'g', updateMeta, 0xff, 0xff, 0xff, 0xff},
		"metadata short":   {byte(msgUpdateGroup), 1, 'g', updateMeta, 0, 0, 0, 9, 'x'},
		"retention short":  {byte(msgUpdateGroup), 1, 'g', updateRetention, 0, 0, 0, 1},
		"retention count":  append([]byte{byte(msgUpdateGroup), 1, 'g', updateRetention, 0, 0, 0x10, 0}, make([]byte, 9)...),
		"spacing negative": append([]byte{byte(msgUpdateGroup), 1, 'g', updateRetention, 0, 0, 0, 1, 0x80}, make([]byte, 8)...),
		"trailing":         append(appendMessageBody(nil, sampleUpdateMessages()[0]), 0),
	}
	for name, f := range frames { // bodies, under a matching checksum
		_, err := decodeMessage(sealed(f))
		require.Error(t, err, name)
		require.True(t, errors.Is(err, ErrProtocol), "%s: %v", name, err)
	}
}
