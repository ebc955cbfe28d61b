package checkpoint

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/blockrep/blockrep/delta"
)

func sampleManifest(t testing.TB) *manifest {
	spec := GroupSpec{
		Volumes:   []delta.VolumeInfo{{ID: "a", Size: 1 << 20}, {ID: "b", Size: 300 << 10}},
		BlockSize: 64 << 10,
		Meta:      []byte("config"),
		Retention: Retention{Additional: 3, Spacing: time.Hour, KeepApp: true},
	}
	require.NoError(t, spec.validate())
	m := &manifest{Group: "g1", Spec: spec, Retention: spec.Retention, Created: time.Unix(100, 0).UTC()}
	m.Hashes = m.newFile("hashes-", ".bin")
	m.HashLog = m.newFile("hashlog-", ".bin")
	m.HashLogSize = 100
	geoms := spec.Geometries()
	for i := range 3 {
		p := pointState{Point: Point{
			ID: delta.PointID{byte(i + 1)}, Base: delta.PointID{byte(i)}, Time: time.Unix(int64(1000+i), 0).UTC(),
			Applied: time.Unix(int64(2000+i), 0).UTC(), Size: int64(10 * i), Hash: delta.Hash{byte(i), 7},
		}}
		if i == 1 {
			p.Consistency = delta.ConsistencyApp
		}
		for _, g := range geoms {
			s := delta.NewSet(g.Blocks())
			s.AddRange(int64(i), 2)
			p.Changed = append(p.Changed, s)
		}
		if i < 2 {
			p.Undo = m.newFile("undo/", ".undo")
			p.UndoSize, p.UndoRecords = int64(100+i), int64(4)
		}
		m.Points = append(m.Points, p)
	}
	m.Pins = []Pin{{Point: delta.PointID{1}, Holder: "clone:x", Since: time.Unix(5, 0).UTC()}}
	m.DropBefore = delta.PointID{2}
	return m
}

func TestManifestRoundTrip(t *testing.T) {
	m := sampleManifest(t)
	b, err := m.encode()
	require.NoError(t, err)
	got, err := decodeManifest(b, "g1")
	require.NoError(t, err)
	assert.Equal(t, m, got)
}

// TestManifestRejects edits a valid manifest's JSON in each way a damaged
// or forged file could differ, and expects a refusal.
func TestManifestRejects(t *testing.T) {
	for _, tc := range []struct {
		name string
		edit func(j map[string]any)
	}{
		{"version", func(j map[string]any) { j["version"] = 2 }},
		{"group", func(j map[string]any) { j["group"] = "g2" }},
		{"block size", func(j map[string]any) { j["block_size"] = 3000 }},
		{"no volumes", func(j map[string]any) { j["volumes"] = []any{} }},
		{"hashes path", func(j map[string]any) { j["hashes"] = "../../etc/passwd" }},
		{"hashes future", func(j map[string]any) { j["hashes"] = "hashes-99.bin" }},
		{"hash log path", func(j map[string]any) { j["hash_log"] = "undo/1.undo" }},
		{"hash log size", func(j map[string]any) { j["hash_log_size"] = 3 }},
		{"hash log huge", func(j map[string]any) { j["hash_log_size"] = int64(1) << 50 }},
		{"undo path", func(j map[string]any) { point(j, 0)["undo"] = "/tmp/x.undo" }},
		{"undo missing", func(j map[string]any) { delete(point(j, 0), "undo") }},
		{"undo shared", func(j map[string]any) { point(j, 1)["undo"] = point(j, 0)["undo"] }},
		{"latest with undo", func(j map[string]any) { point(j, 2)["undo"] = "undo/2.undo" }},
		{"duplicate point", func(j map[string]any) { point(j, 1)["id"] = point(j, 0)["id"] }},
		{"zero point", func(j map[string]any) { point(j, 1)["id"] = delta.PointID{}.String() }},
		{"bad hash", func(j map[string]any) { point(j, 1)["hash"] = "abc" }},
		{"negative size", func(j map[string]any) { point(j, 1)["size"] = -1 }},
		{"set count", func(j map[string]any) { point(j, 1)["changed"] = []any{} }},
		{"set garbage", func(j map[string]any) { point(j, 1)["changed"] = []any{"AAAA", "AAAA"} }},
		{"pin of unknown point", func(j map[string]any) {
			j["pins"] = []any{map[string]any{"point": delta.PointID{9}.String(), "holder": "x"}}
		}},
		{"drop-before of unknown point", func(j map[string]any) { j["drop_before"] = delta.PointID{9}.String() }},
		{"drop-before garbage", func(j map[string]any) { j["drop_before"] = "xyz" }},
		{"pin holder", func(j map[string]any) {
			j["pins"] = []any{map[string]any{"point": delta.PointID{1}.String(), "holder": ""}}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b, err := sampleManifest(t).encode()
			require.NoError(t, err)
			var j map[string]any
			require.NoError(t, json.Unmarshal(b, &j))
			tc.edit(j)
			b, err = json.Marshal(j)
			require.NoError(t, err)
			_, err = decodeManifest(b, "g1")
			require.Error(t, err)
		})
	}
}

func point(j map[string]any, i int) map[string]any {
	return j["points"].([]any)[i].(map[string]any)
}

func FuzzManifest(f *testing.F) {
	b, err := sampleManifest(f).encode()
	require.NoError(f, err)
	f.Add(b)
	f.Add([]byte(`{"version":1,"group":"g1"}`))
	f.Add([]byte(`{}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := decodeManifest(b, "g1")
		if err != nil {
			return
		}
		// Whatever decodes is self-consistent and round-trips.
		out, err := m.encode()
		require.NoError(t, err)
		m2, err := decodeManifest(out, "g1")
		require.NoError(t, err)
		require.Equal(t, m, m2)
		for i, p := range m.Points {
			require.Len(t, p.Changed, len(m.Spec.Volumes))
			require.Equal(t, i == len(m.Points)-1, p.Undo == "")
		}
	})
}
