package replica_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/blockrep/blockrep/transport"
)

// A connection left idle between cycles may be dropped by the transport
// (transport/tcp's idle timeout, a middlebox). With the default MaxIdle the
// next cycle dials anew and succeeds; a primary told to keep connections
// however long idle sends into the dropped one and the cycle fails.
func TestIdleConnectionIsRedialed(t *testing.T) {
	for _, tc := range []struct {
		name    string
		maxIdle time.Duration
		wantErr bool
	}{
		{name: "default max idle dials anew", maxIdle: 0},
		{name: "kept however long idle", maxIdle: -1, wantErr: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			const size = 128 << 10
			e := newEnv(t, withMaxIdle(tc.maxIdle))
			cfg, vols := groupConfig("vm1", size, 1)
			rel, err := e.primary.Enable(e.ctx, cfg)
			require.NoError(t, err)
			_, err = rel.InitialReplication(e.ctx)
			require.NoError(t, err)
			e.event()

			// The network drops the idle connection, as an idle timeout would.
			e.net.Partition("primary", "replica")
			e.net.Heal("primary", "replica")
			e.clk.Advance(5 * time.Minute)

			fill(t, rel.Volume(0), 4096, 8192, 3)
			res, err := rel.Cycle(e.ctx)
			e.event()
			if tc.wantErr {
				require.ErrorIs(t, err, transport.ErrConnectionLost)
				assert.Equal(t, int64(1), rel.Stats().Errors)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, [][]byte{vols[0].snapshot()}, e.pointImages("vm1", res.Point))
			assert.Equal(t, int64(0), rel.Stats().Errors)
		})
	}
}
