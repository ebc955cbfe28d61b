package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// FuzzStateFile feeds arbitrary bytes to the loader of a group's state
// file: it never panics, a state it accepts names the group and has
// matching volumes and sizes, and saving it loads back the same.
func FuzzStateFile(f *testing.F) {
	f.Add([]byte(`{"version":1,"group":"vm1","volumes":["/a.img"],"sizes":[4096],"replica":"h:1","frequency":"30s","point_every":"1h0m0s","block_size":65536,"initial":"network","state":"Replicating","last_point":"00000000000000000000000000000000","exported_point":"00000000000000000000000000000000","stats":{"window_start":"2026-11-25T00:00:00Z","successful_cycles":1,"missed_cycles":0,"errors":0,"total_delta_bytes":1,"max_delta_bytes":1,"total_latency":"1s","max_latency":"1s","consecutive_failures":0}}`))
	f.Add([]byte(`{"version":1,"group":"vm1","volumes":[],"sizes":[]}`))
	f.Add([]byte(`{"version":2}`))
	f.Add([]byte(`[]`))
	f.Add([]byte(`{"version":1,"group":"vm1","volumes":["a"],"sizes":[1],"replica":"r","state":"Bogus"}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		dir := t.TempDir()
		sd := stateDir{root: dir}
		require.NoError(t, os.MkdirAll(sd.groupsDir(), 0o700))
		require.NoError(t, os.WriteFile(sd.statePath("vm1"), data, 0o600))
		st, err := sd.load("vm1")
		if err != nil {
			return
		}
		assert.Equal(t, "vm1", st.Group)
		assert.Equal(t, len(st.Volumes), len(st.Sizes))
		assert.NotEmpty(t, st.Volumes)
		require.NoError(t, sd.save(st))
		again, err := sd.load("vm1")
		require.NoError(t, err)
		a, _ := json.Marshal(st)
		b, _ := json.Marshal(again)
		assert.JSONEq(t, string(a), string(b))
	})
}

// FuzzRecords feeds arbitrary bytes to the loaders of the files serve
// keeps beside its store: no panic, and every record accepted names a
// valid group and an address.
func FuzzRecords(f *testing.F) {
	f.Add([]byte(`[{"group":"vm1","to":"h:1","every":"5m0s"}]`))
	f.Add([]byte(`[{"group":"../x","to":"h:1","every":"5m0s"}]`))
	f.Add([]byte(`{}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		dir := t.TempDir()
		require.NoError(t, os.WriteFile(filepath.Join(dir, extendFile), data, 0o600))
		require.NoError(t, os.WriteFile(filepath.Join(dir, reverseFile), data, 0o600))
		if recs, err := loadExtends(dir); err == nil {
			for _, r := range recs {
				assert.NotEmpty(t, r.To)
				assert.NotContains(t, r.Group, "/")
			}
		}
		if recs, err := loadReverses(dir); err == nil {
			for _, r := range recs {
				assert.NotEmpty(t, r.To)
				assert.NotContains(t, r.Group, "/")
			}
		}
	})
}
