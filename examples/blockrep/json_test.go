package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"testing"
	"time"

	"github.com/blockrep/blockrep/checkpoint"
	"github.com/blockrep/blockrep/delta"
	"github.com/blockrep/blockrep/replica"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// keys returns the sorted keys of a JSON object.
func keys(t *testing.T, v any) []string {
	t.Helper()
	b, err := json.Marshal(v)
	require.NoError(t, err)
	var m map[string]any
	require.NoError(t, json.Unmarshal(b, &m))
	var out []string
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

var snake = regexp.MustCompile(`^[a-z][a-z0-9_]*$`)

// requireSnake requires every object key in the JSON document to be
// snake_case.
func requireSnake(t *testing.T, v any, path string) {
	t.Helper()
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			assert.Regexp(t, snake, k, "key at %s", path)
			requireSnake(t, e, path+"."+k)
		}
	case []any:
		for _, e := range x {
			requireSnake(t, e, path+"[]")
		}
	}
}

func TestSyncJSONFields(t *testing.T) {
	assert.Equal(t, []string{"blocks", "bytes_sent", "duration_ms", "group", "initial", "point"},
		keys(t, syncResult{Group: "g", Point: "p", Blocks: 3, BytesSent: 4, DurationMS: 5}))
}

func TestPointJSON(t *testing.T) {
	id := delta.PointID{1, 2, 3}
	set := delta.NewSet(10)
	set.AddRange(2, 3)
	at := time.Date(2026, 11, 25, 10, 30, 0, 5, time.FixedZone("CET", 3600))
	cases := []struct {
		cons delta.Consistency
		kind string
	}{{delta.ConsistencyCrash, "crash"}, {delta.ConsistencyApp, "app"}}
	for _, c := range cases {
		p := pointOf(checkpoint.Point{ID: id, Time: at, Consistency: c.cons, Size: 777, Changed: []*delta.Set{set}})
		b, err := json.Marshal(p)
		require.NoError(t, err)
		var m map[string]any
		require.NoError(t, json.Unmarshal(b, &m))
		assert.Equal(t, map[string]any{
			"id": id.String(), "time": "2026-11-25T09:30:00.000000005Z", "kind": c.kind, "bytes": 777.0, "blocks": 3.0,
		}, m)
		_, err = time.Parse(time.RFC3339, m["time"].(string))
		assert.NoError(t, err)
	}
}

func TestPrimaryHealth(t *testing.T) {
	now := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	cases := []struct {
		name    string
		st      groupState
		level   replica.HealthLevel
		reasons []string
	}{
		{"replicating", groupState{State: replica.Replicating, Stats: savedStats{WindowStart: now.Add(-time.Hour), LastReplication: now.Add(-time.Minute), SuccessfulCycles: 10}},
			replica.Normal, nil},
		{"no success for two hours", groupState{State: replica.Replicating, Stats: savedStats{LastReplication: now.Add(-2 * time.Hour), SuccessfulCycles: 1}},
			replica.Critical, []string{"no successful cycle for 2h0m0s"}},
		{"suspended", groupState{State: replica.Suspended, Stats: savedStats{LastReplication: now}},
			replica.Warning, []string{"replication is suspended"}},
		{"resync required", groupState{State: replica.ResynchronizationRequired},
			replica.Critical, []string{"resynchronization is required"}},
		{"missed cycles", groupState{State: replica.Replicating, Stats: savedStats{LastReplication: now, SuccessfulCycles: 3, MissedCycles: 2, ConsecutiveFailures: 1, LastError: "boom"}},
			replica.Warning, []string{"2 of 5 cycles missed", "last cycle failed: boom"}},
		{"one miss in five is fine", groupState{State: replica.Replicating, Stats: savedStats{LastReplication: now, SuccessfulCycles: 4, MissedCycles: 1}},
			replica.Normal, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			h := c.st.health(now)
			assert.Equal(t, c.level, h.Level)
			assert.Equal(t, c.reasons, h.Reasons)
		})
	}
}

// TestStatusStateJSON writes a state directory by hand and checks the
// JSON "status --state" prints: snake_case field names, the statistics
// with averages over the saved sums.
func TestStatusStateJSON(t *testing.T) {
	dir := t.TempDir()
	sd := stateDir{root: dir}
	require.NoError(t, os.MkdirAll(sd.groupsDir(), 0o700))
	last := delta.PointID{9, 9}
	st := &groupState{
		Version: stateVersion, Group: "vm1", Volumes: []string{filepath.Join(dir, "a.img")}, Sizes: []int64{1 << 20},
		Replica: "replica:7300", Frequency: duration(5 * time.Minute), BlockSize: 65536, Initial: "network",
		State: replica.Replicating, LastPoint: last, LastTime: time.Now().Add(-time.Minute),
		Stats: savedStats{WindowStart: time.Now().Add(-time.Hour), LastReplication: time.Now(), SuccessfulCycles: 4,
			TotalDeltaBytes: 4000, MaxDeltaBytes: 2500, TotalLatency: duration(4 * time.Second), MaxLatency: duration(2 * time.Second), Errors: 1},
	}
	require.NoError(t, sd.save(st))
	var out, errb bytes.Buffer
	require.Equal(t, 0, run(context.Background(), []string{"status", "--state", dir, "--json"}, &out, &errb), errb.String())
	var doc any
	require.NoError(t, json.Unmarshal(out.Bytes(), &doc))
	requireSnake(t, doc, "")
	var sts []primaryStatus
	require.NoError(t, json.Unmarshal(out.Bytes(), &sts))
	require.Len(t, sts, 1)
	s := sts[0]
	assert.Equal(t, "vm1", s.Group)
	assert.Equal(t, "primary", s.Role)
	assert.Equal(t, replica.Replicating, s.State)
	assert.Equal(t, replica.Normal, s.Health.Level)
	assert.Equal(t, last.String(), s.LastPoint)
	assert.Equal(t, "5m0s", s.Frequency)
	assert.Equal(t, int64(1000), s.Statistics.AverageDeltaBytes)
	assert.Equal(t, int64(2500), s.Statistics.MaximumDeltaBytes)
	assert.Equal(t, time.Second, s.Statistics.AverageLatency)
	assert.Equal(t, int64(4), s.Statistics.SuccessfulCycles)
	assert.Equal(t, int64(1), s.Statistics.Errors)
	stats := doc.([]any)[0].(map[string]any)["statistics"].(map[string]any)
	for _, k := range []string{"state", "last_replication_time", "average_delta_size", "maximum_delta_size", "average_latency",
		"maximum_latency", "errors", "successful_cycles", "missed_cycles", "pending_size"} {
		assert.Contains(t, stats, k)
	}

	// A state file that names another group is refused, not trusted.
	st.Group = "vm2"
	b, err := json.Marshal(st)
	require.NoError(t, err)
	require.NoError(t, writeFileAtomic(sd.statePath("vm1"), b))
	out.Reset()
	errb.Reset()
	assert.Equal(t, 1, run(context.Background(), []string{"status", "--state", dir, "--json"}, &out, &errb))
	assert.Contains(t, errb.String(), `names group "vm2"`)
}

func TestExtensionJSONIsSnakeCase(t *testing.T) {
	e := replica.ExtensionStatus{Group: "g", Replica: "hv3:7300", Frequency: 5 * time.Minute,
		Retention: checkpoint.Retention{Additional: 3, Spacing: time.Hour}, LastPoint: delta.PointID{7}, Successes: 2, Bytes: 99}
	st := replicaStatus{Group: "g", Role: "replica", State: replica.Replicating, Extension: extensionOf(e)}
	b, err := json.Marshal([]replicaStatus{st})
	require.NoError(t, err)
	var doc any
	require.NoError(t, json.Unmarshal(b, &doc))
	requireSnake(t, doc, "")
	ext := doc.([]any)[0].(map[string]any)["extension"].(map[string]any)
	assert.Equal(t, "5m0s", ext["frequency"])
	assert.Equal(t, 3.0, ext["retention_points"])
	assert.Equal(t, delta.PointID{7}.String(), ext["last_point"])
}
