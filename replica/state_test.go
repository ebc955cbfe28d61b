package replica

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestStateNamesAndJSON(t *testing.T) {
	for s := State(0); s < stateCount; s++ {
		b, err := json.Marshal(s)
		require.NoError(t, err)
		assert.Equal(t, `"`+s.String()+`"`, string(b))
		var back State
		require.NoError(t, json.Unmarshal(b, &back))
		assert.Equal(t, s, back)
	}
	var s State
	assert.ErrorIs(t, json.Unmarshal([]byte(`"Bogus"`), &s), ErrInvalidState)
	_, err := json.Marshal(State(200))
	assert.Error(t, err)
	assert.Equal(t, "State(200)", State(200).String())
}

func TestTransitionTable(t *testing.T) {
	cases := []struct {
		role     Role
		from, to State
		ok       bool
	}{
		{RolePrimary, StateNone, InitialReplicationPending, true},
		{RolePrimary, InitialReplicationPending, InitialReplicationInProgress, true},
		{RolePrimary, InitialReplicationInProgress, Replicating, true},
		{RolePrimary, Replicating, Suspended, true},
		{RolePrimary, Suspended, Replicating, true},
		{RolePrimary, Replicating, ResynchronizationRequired, true},
		{RolePrimary, ResynchronizationRequired, Replicating, false},
		{RolePrimary, InitialReplicationPending, Replicating, false},
		{RolePrimary, Replicating, TestFailoverRunning, false},
		{RoleReplica, Replicating, TestFailoverRunning, true},
		{RoleReplica, FailedOver, Replicating, true}, // DiscardFailover, failback
	}
	for _, c := range cases {
		assert.Equal(t, c.ok, CanTransition(c.role, c.from, c.to), "%s %s→%s", c.role, c.from, c.to)
		err := checkTransition(c.role, "op", c.from, c.to)
		if c.ok {
			assert.NoError(t, err)
			continue
		}
		assert.ErrorIs(t, err, ErrInvalidState)
		var se *StateError
		require.ErrorAs(t, err, &se)
		assert.Equal(t, c.from, se.From)
		assert.Equal(t, c.to, se.To)
	}
}

func TestHealthLevelsJSON(t *testing.T) {
	b, err := json.Marshal(Health{Level: Critical, Reasons: []string{"x"}})
	require.NoError(t, err)
	assert.JSONEq(t, `{"level":"Critical","reasons":["x"]}`, string(b))
}

// The CLI prints Stats as JSON: the keys are snake_case and the state is
// its name.
func TestStatsJSONKeys(t *testing.T) {
	b, err := json.Marshal(Stats{State: Suspended, PendingBytes: 5, MissedCycles: 2})
	require.NoError(t, err)
	var m map[string]any
	require.NoError(t, json.Unmarshal(b, &m))
	assert.Equal(t, "Suspended", m["state"])
	assert.Equal(t, float64(5), m["pending_size"])
	assert.Equal(t, float64(2), m["missed_cycles"])
	for k := range m {
		for _, c := range k {
			assert.True(t, c == '_' || c >= 'a' && c <= 'z', "key %q is not snake_case", k)
		}
	}
	for _, k := range []string{"monitoring_window_start", "average_delta_size", "maximum_delta_size", "average_latency", "maximum_latency", "errors", "successful_cycles"} {
		assert.Contains(t, m, k)
	}
}
