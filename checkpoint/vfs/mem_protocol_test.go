package vfs

import (
	"bytes"
	"errors"
	"os"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// replaceFile is the atomic-replace protocol under test; skipFileSync
// leaves out the fsync before the rename, the classic bug.
func replaceFile(fsys FS, name string, data []byte, skipFileSync bool) error {
	f, err := fsys.Create(name + ".tmp")
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if !skipFileSync {
		if err := f.Sync(); err != nil {
			f.Close()
			return err
		}
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := fsys.Rename(name+".tmp", name); err != nil {
		return err
	}
	return fsys.SyncDir(".")
}

// baseState makes a MemFS whose durable state holds state = "v1".
func baseState(t *testing.T) *MemFS {
	m := NewMem()
	durablePut(t, m, ".", "state", "v1")
	return m
}

// TestCrashLoopAtomicReplace is the standard loop: crash at every
// operation of a workload and check what reopening finds.
func TestCrashLoopAtomicReplace(t *testing.T) {
	v2 := bytes.Repeat([]byte("v2"), 3000) // spans pages, so tearing can show
	clean := baseState(t)
	start := clean.Ops()
	require.NoError(t, replaceFile(clean, "state", v2, false))
	total := clean.Ops() - start
	require.Equal(t, int64(5), total) // create, write, sync, rename, syncdir; Close is not counted
	outcomes := map[string]int{}
	for n := range total + 1 {
		for seed := range uint64(8) {
			m := baseState(t)
			m.CrashAt(n)
			err := replaceFile(m, "state", v2, false)
			if n < total {
				require.ErrorIs(t, err, ErrCrashed, "n=%d", n)
			} else {
				require.NoError(t, err)
			}
			var after *MemFS
			if seed == 0 {
				after = m.Crash()
			} else {
				after = m.CrashRandom(seed)
			}
			got, err := after.ReadFile("state")
			require.NoError(t, err, "n=%d seed=%d", n, seed)
			switch {
			case string(got) == "v1":
				outcomes["v1"]++
			case bytes.Equal(got, v2):
				outcomes["v2"]++
			default:
				t.Fatalf("n=%d seed=%d: state is neither v1 nor v2 (%d bytes)", n, seed, len(got))
			}
		}
	}
	assert.Positive(t, outcomes["v1"])
	assert.Positive(t, outcomes["v2"])
}

// TestCrashLoopFindsMissingSync shows the loop catching the bug: without
// the file sync, some crash leaves state empty or torn.
func TestCrashLoopFindsMissingSync(t *testing.T) {
	v2 := bytes.Repeat([]byte("v2"), 3000)
	clean := baseState(t)
	start := clean.Ops()
	require.NoError(t, replaceFile(clean, "state", v2, true))
	total := clean.Ops() - start
	var broken int
	for n := range total + 1 {
		m := baseState(t)
		m.CrashAt(n)
		err := replaceFile(m, "state", v2, true)
		require.True(t, err == nil || errors.Is(err, ErrCrashed), "n=%d: %v", n, err)
		got, err := m.Crash().ReadFile("state")
		require.NoError(t, err)
		if string(got) != "v1" && !bytes.Equal(got, v2) {
			broken++
		}
	}
	assert.Equal(t, 1, broken, "only a crash after the directory sync exposes the unsynced file")
}

// TestCrashLoopAppendLog checks the append → fsync pattern: every
// acknowledged record survives, and what follows them is a prefix of
// the unacknowledged ones or, under CrashRandom, torn bytes.
func TestCrashLoopAppendLog(t *testing.T) {
	records := [][]byte{[]byte("rec-0;"), bytes.Repeat([]byte("1"), 5000), []byte("rec-2;")}
	run := func(m *MemFS) (acked int, err error) {
		f, err := m.OpenFile("log", os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
		if err != nil {
			return 0, err
		}
		defer f.Close()
		if err := m.SyncDir("."); err != nil {
			return 0, err
		}
		for _, r := range records {
			if _, err := f.Write(r); err != nil {
				return acked, err
			}
			if err := f.Sync(); err != nil {
				return acked, err
			}
			acked++
		}
		return acked, nil
	}
	clean := NewMem()
	_, err := run(clean)
	require.NoError(t, err)
	for n := range clean.Ops() + 1 {
		for seed := range uint64(4) {
			m := NewMem()
			m.CrashAt(n)
			acked, _ := run(m)
			after := m.Crash()
			if seed > 0 {
				after = m.CrashRandom(seed)
			}
			got, err := after.ReadFile("log")
			if n <= 1 { // crashed at the create or the directory sync
				if err == nil {
					assert.Empty(t, got)
				}
				continue
			}
			require.NoError(t, err, "n=%d seed=%d", n, seed)
			want := bytes.Join(records[:acked], nil)
			require.GreaterOrEqual(t, len(got), len(want), "n=%d seed=%d: acknowledged records lost", n, seed)
			assert.Equal(t, string(want), string(got[:len(want)]), "n=%d seed=%d", n, seed)
			if seed == 0 {
				assert.Equal(t, string(want), string(got), "n=%d: Crash keeps exactly the synced records", n)
			}
		}
	}
}
