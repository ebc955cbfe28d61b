package replica_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/blockrep/blockrep/checkpoint"
	"github.com/blockrep/blockrep/checkpoint/vfs"
	"github.com/blockrep/blockrep/delta"
	"github.com/blockrep/blockrep/replica"
	"github.com/blockrep/blockrep/transport"
	"github.com/blockrep/blockrep/transport/memory"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestExtendConfigValidate(t *testing.T) {
	tests := []struct {
		name string
		cfg  replica.ExtendConfig
		ok   bool
	}{
		{"defaults", replica.ExtendConfig{Replica: "ext:1"}, true},
		{"15 minutes", replica.ExtendConfig{Replica: "ext:1", Frequency: replica.Frequency15m, Retention: checkpoint.Retention{Additional: 24}}, true},
		{"at the minimum", replica.ExtendConfig{Replica: "ext:1", Frequency: replica.MinFrequency}, true},
		{"longest address", replica.ExtendConfig{Replica: strings.Repeat("a", replica.MaxExtendAddr)}, true},
		{"no address", replica.ExtendConfig{}, false},
		{"address too long", replica.ExtendConfig{Replica: strings.Repeat("a", replica.MaxExtendAddr+1)}, false},
		{"faster than the minimum", replica.ExtendConfig{Replica: "ext:1", Frequency: 10 * time.Second}, false},
		{"negative frequency", replica.ExtendConfig{Replica: "ext:1", Frequency: -time.Minute}, false},
		{"negative retention", replica.ExtendConfig{Replica: "ext:1", Retention: checkpoint.Retention{Additional: -1}}, false},
		{"retention beyond the chain", replica.ExtendConfig{Replica: "ext:1", Retention: checkpoint.Retention{Additional: checkpoint.MaxPoints}}, false},
		{"negative spacing", replica.ExtendConfig{Replica: "ext:1", Retention: checkpoint.Retention{Spacing: -time.Hour}}, false},
		{"negative timeout", replica.ExtendConfig{Replica: "ext:1", Timeout: -time.Second}, false},
		{"negative chunk", replica.ExtendConfig{Replica: "ext:1", ChunkSize: -1}, false},
		{"chunk too large", replica.ExtendConfig{Replica: "ext:1", ChunkSize: transport.MaxFrameSize + 1}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.cfg.Validate()
			if tt.ok {
				assert.NoError(t, err)
			} else {
				assert.ErrorIs(t, err, replica.ErrInvalidConfig)
			}
		})
	}
}

// TestExtendRefusals checks what Extend, StopExtend and ForwardNow refuse,
// each leaving the host without an extension.
func TestExtendRefusals(t *testing.T) {
	ctx := context.Background()
	net, err := memory.NewNetwork(1)
	require.NoError(t, err)
	store, err := checkpoint.Open(vfs.NewMem(), "store")
	require.NoError(t, err)
	defer store.Close()
	_, err = store.CreateGroup(ctx, "vm", checkpoint.GroupSpec{Volumes: []delta.VolumeInfo{{ID: "d", Size: 1 << 16}}, BlockSize: 4096})
	require.NoError(t, err)
	auth, err := transport.NewAuthorizer([]transport.AuthEntry{{Peer: "p", Group: "*", Storage: "."}})
	require.NoError(t, err)
	l, err := net.Endpoint("r").Listen(ctx, "r:1")
	require.NoError(t, err)
	defer l.Close()

	noTransport, err := replica.NewReplicaHost(replica.ReplicaConfig{Listener: l, Store: store, Authorizer: auth})
	require.NoError(t, err)
	assert.ErrorIs(t, noTransport.Extend(ctx, "vm", replica.ExtendConfig{Replica: "x:1"}), replica.ErrInvalidConfig)
	assert.Empty(t, noTransport.Extensions())

	h, err := replica.NewReplicaHost(replica.ReplicaConfig{Listener: l, Store: store, Authorizer: auth, Transport: net.Endpoint("r")})
	require.NoError(t, err)
	assert.ErrorIs(t, h.Extend(ctx, "vm", replica.ExtendConfig{Replica: "x:1", Frequency: time.Second}), replica.ErrInvalidConfig)
	assert.ErrorIs(t, h.Extend(ctx, "nope", replica.ExtendConfig{Replica: "x:1"}), replica.ErrUnknownGroup)
	assert.Empty(t, h.Extensions())
	_, err = h.ForwardNow(ctx, "vm")
	assert.ErrorIs(t, err, replica.ErrNotExtended)
	assert.ErrorIs(t, h.StopExtend(ctx, "vm"), replica.ErrNotExtended)

	// Not serving: Extend registers, ForwardNow works without a loop; the
	// group has no point yet, so there is nothing to send.
	require.NoError(t, h.Extend(ctx, "vm", replica.ExtendConfig{Replica: "x:1"}))
	assert.ErrorIs(t, h.Extend(ctx, "vm", replica.ExtendConfig{Replica: "y:1"}), replica.ErrExtended)
	res, err := h.ForwardNow(ctx, "vm")
	require.NoError(t, err)
	assert.Equal(t, replica.ForwardResult{}, res)
	st := h.Extensions()
	require.Len(t, st, 1)
	assert.Equal(t, "x:1", st[0].Replica)
	assert.Equal(t, replica.DefaultExtendFrequency, st[0].Frequency)
	assert.Equal(t, int64(1), st[0].Successes)

	require.NoError(t, h.Close())
	assert.ErrorIs(t, h.Extend(ctx, "vm", replica.ExtendConfig{Replica: "x:1"}), replica.ErrClosed)
	assert.ErrorIs(t, h.StopExtend(ctx, "vm"), replica.ErrClosed)
	_, err = h.ForwardNow(ctx, "vm")
	assert.ErrorIs(t, err, replica.ErrClosed)
}
