package vfs

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// opScript calls every counted operation once or more; it stops at the
// first error and returns how many calls succeeded.
func opScript(m FS) (int, error) {
	buf := make([]byte, 2)
	var f, d File
	steps := []func() error{
		func() error { return m.MkdirAll("d", 0o755) },
		func() (err error) { f, err = m.Create("/d/f"); return err },
		func() error { _, err := f.Write([]byte("abc")); return err },
		func() error { _, err := f.WriteAt([]byte("Z"), 5); return err },
		func() error { _, err := f.Seek(0, io.SeekStart); return err }, // not counted
		func() error { _, err := f.Read(buf); return err },
		func() error { _, err := f.ReadAt(buf, 1); return err },
		func() error { return f.Truncate(4) },
		func() error { return f.Sync() },
		func() error { _, err := f.Stat(); return err }, // not counted
		func() error { return f.Close() },               // not counted
		func() (err error) { f, err = m.Open("d/f"); return err },
		func() error { return f.Close() },
		func() (err error) { f, err = m.OpenFile("d/h", os.O_RDWR|os.O_CREATE, 0o644); return err },
		func() error { return f.Close() },
		func() (err error) { f, err = m.OpenFile("d/h", os.O_RDWR, 0); return err },
		func() error { return f.Close() },
		func() error { _, err := m.ReadDir("d"); return err },
		func() error { _, err := m.Stat("d/f"); return err }, // not counted
		func() error { return m.Rename("d/f", "d/g") },
		func() error { return m.SyncDir("d") },
		func() (err error) { d, err = m.Open("."); return err },
		func() error { return d.Sync() },
		func() error { return d.Close() },
		func() error { return m.Remove("d/g") },
		func() error { return m.RemoveAll("d") },
	}
	for i, step := range steps {
		if err := step(); err != nil {
			return i, err
		}
	}
	return len(steps), nil
}

// opScriptOps is what opScript reports to a hook.
var opScriptOps = []Op{
	{Kind: OpMkdir, Path: "d", Index: 0},
	{Kind: OpCreate, Path: "d/f", Index: 1},
	{Kind: OpWrite, Path: "d/f", Index: 2},
	{Kind: OpWrite, Path: "d/f", Index: 3},
	{Kind: OpRead, Path: "d/f", Index: 4},
	{Kind: OpRead, Path: "d/f", Index: 5},
	{Kind: OpTruncate, Path: "d/f", Index: 6},
	{Kind: OpSync, Path: "d/f", Index: 7},
	{Kind: OpOpen, Path: "d/f", Index: 8},
	{Kind: OpCreate, Path: "d/h", Index: 9},
	{Kind: OpOpen, Path: "d/h", Index: 10},
	{Kind: OpRead, Path: "d", Index: 11},
	{Kind: OpRename, Path: "d/f", NewPath: "d/g", Index: 12},
	{Kind: OpSyncDir, Path: "d", Index: 13},
	{Kind: OpOpen, Path: ".", Index: 14},
	{Kind: OpSyncDir, Path: ".", Index: 15},
	{Kind: OpRemove, Path: "d/g", Index: 16},
	{Kind: OpRemove, Path: "d", Index: 17},
}

// opScriptStep maps an operation index of opScript to the index of the
// script step that runs it.
var opScriptStep = []int{0, 1, 2, 3, 5, 6, 7, 8, 11, 13, 15, 17, 19, 20, 21, 22, 24, 25}

func TestHookSeesEveryOperation(t *testing.T) {
	m := NewMem()
	var seen []Op
	m.SetHook(func(op Op) error { seen = append(seen, op); return nil })
	n, err := opScript(m)
	require.NoError(t, err, "step %d", n)
	assert.Equal(t, opScriptOps, seen)
	assert.Equal(t, int64(len(opScriptOps)), m.Ops())
	assert.Equal(t, int64(18), m.OpCount())
	assert.Equal(t, int64(2), m.OpCount(OpWrite))
	assert.Equal(t, int64(2), m.OpCount(OpWrite, OpWrite), "kinds are not counted twice")
	assert.Equal(t, int64(3), m.OpCount(OpRead))
	assert.Equal(t, int64(3), m.OpCount(OpSync, OpSyncDir))
	assert.Equal(t, int64(0), m.OpCount(OpKind(200)))
	assert.Empty(t, m.Snapshot())
}

func TestFailAtEveryOperation(t *testing.T) {
	for n := range int64(len(opScriptOps)) {
		m := NewMem()
		m.SetHook(FailAt(n))
		step, err := opScript(m)
		assert.ErrorIs(t, err, ErrInjected, "n=%d", n)
		assert.Equal(t, opScriptStep[n], step, "n=%d fails at its step", n)
		var pe *fs.PathError
		var le *os.LinkError
		assert.True(t, errors.As(err, &pe) || errors.As(err, &le), "n=%d: %T", n, err)
	}
	m := NewMem()
	m.SetHook(FailAt(int64(len(opScriptOps))))
	_, err := opScript(m)
	assert.NoError(t, err, "a failure point past the end never fires")
}

func TestCrashAtEveryOperation(t *testing.T) {
	clean := NewMem()
	_, err := opScript(clean)
	require.NoError(t, err)
	total := clean.Ops()
	require.Equal(t, int64(len(opScriptOps)), total)

	for n := range total + 1 {
		m := NewMem()
		m.CrashAt(n)
		step, err := opScript(m)
		if n == total {
			assert.NoError(t, err)
			assert.False(t, m.Crashed())
			continue
		}
		assert.ErrorIs(t, err, ErrCrashed, "n=%d", n)
		assert.Equal(t, opScriptStep[n], step, "n=%d crashes at its step", n)
		assert.True(t, m.Crashed(), "n=%d", n)
		assert.Equal(t, n+1, m.Ops(), "n=%d: the crashing operation is the last counted", n)
		_, err = m.Create("later")
		assert.ErrorIs(t, err, ErrCrashed, "n=%d: later operations fail", n)
		assert.Equal(t, n+1, m.Ops(), "n=%d: operations after the crash are not counted", n)
	}
}

func TestCrashAtCountsMatchingKindsFromTheCall(t *testing.T) {
	m := NewMem()
	f, err := m.Create("f")
	require.NoError(t, err)
	for range 3 {
		_, err = f.Write([]byte("x"))
		require.NoError(t, err)
		require.NoError(t, f.Sync())
	}
	m.CrashAt(1, OpSync)
	_, err = f.Write([]byte("a"))
	require.NoError(t, err)
	require.NoError(t, f.Sync(), "sync 0 after CrashAt")
	_, err = f.Write([]byte("b"))
	require.NoError(t, err)
	assert.ErrorIs(t, f.Sync(), ErrCrashed, "sync 1 after CrashAt")
	assert.Equal(t, map[string]string{}, strs(m.Crash().Snapshot()), "the directory was never synced")

	// A negative n removes the crash point.
	m = NewMem()
	m.CrashAt(0)
	m.CrashAt(-7)
	require.NoError(t, m.MkdirAll("d", 0o755))
	assert.False(t, m.Crashed())
}

func TestFailAtKinds(t *testing.T) {
	m := NewMem()
	m.SetHook(FailAt(2, OpWrite))
	f, err := m.Create("f")
	require.NoError(t, err)
	var errs []error
	for i := range 5 {
		_, err := f.Write([]byte{'0' + byte(i)})
		errs = append(errs, err)
	}
	assert.NoError(t, errs[0])
	assert.NoError(t, errs[1])
	assert.ErrorIs(t, errs[2], ErrInjected)
	assert.NoError(t, errs[3])
	assert.NoError(t, errs[4])
	got, err := m.ReadFile("f")
	require.NoError(t, err)
	assert.Equal(t, "0134", string(got), "the failed write changed nothing")
	assert.Contains(t, errs[2].Error(), "#3 write f")
}

func TestFailFrom(t *testing.T) {
	m := NewMem()
	m.SetHook(FailFrom(1, OpSync, OpSyncDir))
	f, err := m.Create("f")
	require.NoError(t, err)
	_, err = f.Write([]byte("abc"))
	require.NoError(t, err)
	require.NoError(t, f.Sync())
	for range 3 {
		_, err = f.Write([]byte("d"))
		assert.NoError(t, err, "writes are not matched")
		assert.ErrorIs(t, f.Sync(), ErrInjected)
		assert.ErrorIs(t, m.SyncDir("."), ErrInjected)
	}
	m.SetHook(nil)
	require.NoError(t, m.SyncDir("."))
	assert.Equal(t, map[string]string{"f": "abc"}, strs(m.Crash().Snapshot()))
}

func TestFailAtHookIsShared(t *testing.T) {
	hook := FailAt(1, OpMkdir)
	a, b := NewMem(), NewMem()
	a.SetHook(hook)
	b.SetHook(hook)
	assert.NoError(t, a.MkdirAll("x", 0o755))
	assert.ErrorIs(t, b.MkdirAll("x", 0o755), ErrInjected)
	assert.NoError(t, a.MkdirAll("y", 0o755))
}

// TestHookFailureHasNoEffect fails each kind of operation through the hook
// and checks that neither the volatile nor the durable state changed.
func TestHookFailureHasNoEffect(t *testing.T) {
	hookErr := errors.New("disk on fire")
	tests := []struct {
		kind OpKind
		call func(m *MemFS, f File) error
	}{
		{OpCreate, func(m *MemFS, _ File) error { _, err := m.Create("new"); return err }},
		{OpCreate, func(m *MemFS, _ File) error { _, err := m.Create("d/f"); return err }},
		{OpCreate, func(m *MemFS, _ File) error { _, err := m.OpenFile("d/f", os.O_RDWR|os.O_TRUNC, 0); return err }},
		{OpOpen, func(m *MemFS, _ File) error { _, err := m.Open("d/f"); return err }},
		{OpWrite, func(_ *MemFS, f File) error { _, err := f.Write([]byte("zz")); return err }},
		{OpWrite, func(_ *MemFS, f File) error { _, err := f.WriteAt([]byte("zz"), 10000); return err }},
		{OpSync, func(_ *MemFS, f File) error { return f.Sync() }},
		{OpTruncate, func(_ *MemFS, f File) error { return f.Truncate(0) }},
		{OpTruncate, func(_ *MemFS, f File) error { return f.Truncate(100) }},
		{OpRename, func(m *MemFS, _ File) error { return m.Rename("d/f", "g") }},
		{OpRemove, func(m *MemFS, _ File) error { return m.Remove("d/f") }},
		{OpRemove, func(m *MemFS, _ File) error { return m.RemoveAll("d") }},
		{OpMkdir, func(m *MemFS, _ File) error { return m.MkdirAll("x/y", 0o755) }},
		{OpSyncDir, func(m *MemFS, _ File) error { return m.SyncDir("d") }},
		{OpRead, func(_ *MemFS, f File) error { _, err := f.Read(make([]byte, 2)); return err }},
		{OpRead, func(m *MemFS, _ File) error { _, err := m.ReadDir("d"); return err }},
	}
	for i, tt := range tests {
		t.Run(fmt.Sprintf("%d-%s", i, tt.kind), func(t *testing.T) {
			m := NewMem()
			require.NoError(t, m.MkdirAll("d", 0o755))
			require.NoError(t, m.SyncDir("."))
			durablePut(t, m, "d", "f", "durable")
			put(t, m, "d/v", "volatile", false)
			appendTo(t, m, "d/f", "+unsynced", false)
			f, err := m.OpenFile("d/f", os.O_RDWR, 0)
			require.NoError(t, err)
			defer f.Close()
			_, err = f.Seek(3, io.SeekStart)
			require.NoError(t, err)

			before := m.Clone()
			var seen []OpKind
			m.SetHook(func(op Op) error { seen = append(seen, op.Kind); return hookErr })
			err = tt.call(m, f)
			m.SetHook(nil)
			assert.ErrorIs(t, err, hookErr)
			assert.Equal(t, []OpKind{tt.kind}, seen)

			assert.Equal(t, tree(t, before, "."), tree(t, m, "."), "volatile state")
			assert.Equal(t, before.Used(), m.Used())
			off, err := f.Seek(0, io.SeekCurrent)
			require.NoError(t, err)
			assert.Equal(t, int64(3), off, "offset")
			assert.Equal(t, tree(t, before.Crash(), "."), tree(t, m.Clone().Crash(), "."), "durable state")
		})
	}
}

func TestOpStrings(t *testing.T) {
	assert.Equal(t, "syncdir", OpSyncDir.String())
	assert.Equal(t, "OpKind(99)", OpKind(99).String())
	assert.Equal(t, "OpKind(0)", OpKind(0).String())
	assert.Equal(t, "#4 rename a -> b", Op{Kind: OpRename, Path: "a", NewPath: "b", Index: 4}.String())
	assert.Equal(t, "#0 write a", Op{Kind: OpWrite, Path: "a"}.String())
	var mutating []OpKind
	for k := OpCreate; k <= OpRead; k++ {
		if k.Mutating() {
			mutating = append(mutating, k)
		}
	}
	assert.Equal(t, []OpKind{OpCreate, OpWrite, OpSync, OpTruncate, OpRename, OpRemove, OpMkdir, OpSyncDir}, mutating)
}
