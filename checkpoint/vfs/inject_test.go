package vfs

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestWithHookCountsLikeMemFS(t *testing.T) {
	var seen []Op
	fsys := WithHook(NewMem(), func(op Op) error { seen = append(seen, op); return nil })
	n, err := opScript(fsys)
	require.NoError(t, err, "step %d", n)
	require.Len(t, seen, len(opScriptOps))
	for i, op := range seen {
		op.Path, _ = cleanPath(op.Path)
		if op.NewPath != "" {
			op.NewPath, _ = cleanPath(op.NewPath)
		}
		assert.Equal(t, opScriptOps[i], op)
	}
}

func TestWithHookFailsEveryOperation(t *testing.T) {
	for n := range int64(len(opScriptOps)) {
		inner := NewMem()
		step, err := opScript(WithHook(inner, FailAt(n)))
		assert.ErrorIs(t, err, ErrInjected, "n=%d", n)
		assert.Equal(t, opScriptStep[n], step, "n=%d", n)
		var pe *fs.PathError
		var le *os.LinkError
		assert.True(t, errors.As(err, &pe) || errors.As(err, &le), "n=%d: %T", n, err)
		assert.Equal(t, n, inner.Ops(), "n=%d: the failed operation never reached the inner FS", n)
	}
}

// TestWithHookOnOS injects faults into the real filesystem: a failed
// write, sync or rename leaves the disk as it was.
func TestWithHookOnOS(t *testing.T) {
	tests := []struct {
		kind OpKind
		want map[string]string
	}{
		{OpCreate, map[string]string{"state": "v1"}},
		{OpWrite, map[string]string{"state": "v1", "state.tmp": ""}},
		{OpSync, map[string]string{"state": "v1", "state.tmp": "v2"}},
		{OpRename, map[string]string{"state": "v1", "state.tmp": "v2"}},
		{OpSyncDir, map[string]string{"state": "v2"}},
	}
	for _, tt := range tests {
		t.Run(tt.kind.String(), func(t *testing.T) {
			dir := t.TempDir()
			require.NoError(t, os.WriteFile(filepath.Join(dir, "state"), []byte("v1"), 0o644))
			fsys := WithHook(OS(), FailAt(0, tt.kind))
			err := replaceFileIn(fsys, dir, "state", []byte("v2"))
			assert.ErrorIs(t, err, ErrInjected)
			got := tree(t, OS(), dir)
			assert.Equal(t, tt.want, got)
		})
	}
}

// replaceFileIn is replaceFile with names under dir.
func replaceFileIn(fsys FS, dir, name string, data []byte) error {
	tmp, final := filepath.Join(dir, name+".tmp"), filepath.Join(dir, name)
	f, err := fsys.Create(tmp)
	if err != nil {
		return err
	}
	defer f.Close()
	if _, err := f.Write(data); err != nil {
		return err
	}
	if err := f.Sync(); err != nil {
		return err
	}
	if err := fsys.Rename(tmp, final); err != nil {
		return err
	}
	return fsys.SyncDir(dir)
}

func TestWithHookConcurrent(t *testing.T) {
	var mu sync.Mutex
	indexes := map[int64]bool{}
	fsys := WithHook(NewMem(), func(op Op) error {
		mu.Lock()
		defer mu.Unlock()
		indexes[op.Index] = true
		return nil
	})
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Go(func() {
			for range 25 {
				assert.NoError(t, fsys.MkdirAll(filepath.Join("d", string(rune('a'+w))), 0o755))
			}
		})
	}
	wg.Wait()
	require.Len(t, indexes, 100)
	for i := range int64(100) {
		assert.True(t, indexes[i], "index %d given out", i)
	}
}
