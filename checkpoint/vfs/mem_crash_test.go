package vfs

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"os"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// put creates or truncates name with content data, syncing it when sync is
// set. The directory is not synced.
func put(t *testing.T, m *MemFS, name, data string, sync bool) {
	t.Helper()
	f, err := m.Create(name)
	require.NoError(t, err)
	_, err = f.Write([]byte(data))
	require.NoError(t, err)
	if sync {
		require.NoError(t, f.Sync())
	}
	require.NoError(t, f.Close())
}

// durablePut creates name with data, syncs it and its directory.
func durablePut(t *testing.T, m *MemFS, dir, name, data string) {
	t.Helper()
	put(t, m, dir+"/"+name, data, true)
	require.NoError(t, m.SyncDir(dir))
}

// appendTo opens name for appending and writes data, syncing when asked.
func appendTo(t *testing.T, m *MemFS, name, data string, sync bool) {
	t.Helper()
	f, err := m.OpenFile(name, os.O_WRONLY|os.O_APPEND, 0)
	require.NoError(t, err)
	_, err = f.Write([]byte(data))
	require.NoError(t, err)
	if sync {
		require.NoError(t, f.Sync())
	}
	require.NoError(t, f.Close())
}

// strs turns a Snapshot into strings for readable comparisons.
func strs(snap map[string][]byte) map[string]string {
	out := make(map[string]string, len(snap))
	for k, v := range snap {
		out[k] = string(v)
	}
	return out
}

// dirs lists every directory of m below the root.
func dirs(t *testing.T, m *MemFS) []string {
	t.Helper()
	var out []string
	for name, v := range tree(t, m, ".") {
		if v == "<dir>" {
			out = append(out, name)
		}
	}
	return out
}

func TestCrashSemantics(t *testing.T) {
	big := strings.Repeat("A", 3*pageSize+100)
	tests := []struct {
		name     string
		run      func(t *testing.T, m *MemFS)
		want     map[string]string // files after the crash
		wantDirs []string          // directories after the crash
	}{
		{
			name: "nothing synced",
			run:  func(t *testing.T, m *MemFS) { put(t, m, "f", "abc", false) },
			want: map[string]string{},
		},
		{
			name: "unsynced write lost, entry kept",
			run: func(t *testing.T, m *MemFS) {
				put(t, m, "f", "abc", false)
				require.NoError(t, m.SyncDir("."))
			},
			want: map[string]string{"f": ""},
		},
		{
			name: "synced write kept",
			run: func(t *testing.T, m *MemFS) {
				put(t, m, "f", "abc", true)
				require.NoError(t, m.SyncDir("/"))
			},
			want: map[string]string{"f": "abc"},
		},
		{
			name: "sync before dir sync is enough",
			run: func(t *testing.T, m *MemFS) {
				require.NoError(t, m.SyncDir("."))
				put(t, m, "f", "abc", true)
				require.NoError(t, m.SyncDir("."))
			},
			want: map[string]string{"f": "abc"},
		},
		{
			name: "create synced but directory not synced is lost",
			run:  func(t *testing.T, m *MemFS) { put(t, m, "f", "abc", true) },
			want: map[string]string{},
		},
		{
			name: "append after sync lost",
			run: func(t *testing.T, m *MemFS) {
				durablePut(t, m, ".", "log", "one;")
				appendTo(t, m, "log", "two;", true)
				appendTo(t, m, "log", "three;", false)
			},
			want: map[string]string{"log": "one;two;"},
		},
		{
			name: "overwrite in place after sync lost",
			run: func(t *testing.T, m *MemFS) {
				durablePut(t, m, ".", "f", big)
				f, err := m.OpenFile("f", os.O_RDWR, 0)
				require.NoError(t, err)
				_, err = f.WriteAt([]byte("BBBB"), pageSize-2)
				require.NoError(t, err)
				require.NoError(t, f.Close())
			},
			want: map[string]string{"f": big},
		},
		{
			name: "partial page sync keeps untouched pages",
			run: func(t *testing.T, m *MemFS) {
				durablePut(t, m, ".", "f", big)
				f, err := m.OpenFile("f", os.O_RDWR, 0)
				require.NoError(t, err)
				_, err = f.WriteAt([]byte("BBBB"), pageSize-2)
				require.NoError(t, err)
				require.NoError(t, f.Sync())
				_, err = f.WriteAt([]byte("CC"), 2*pageSize)
				require.NoError(t, err)
				require.NoError(t, f.Close())
			},
			want: map[string]string{"f": big[:pageSize-2] + "BBBB" + big[pageSize+2:]},
		},
		{
			name: "rename without dir sync reverted",
			run: func(t *testing.T, m *MemFS) {
				durablePut(t, m, ".", "state", "old")
				put(t, m, "state.tmp", "new", true)
				require.NoError(t, m.Rename("state.tmp", "state"))
			},
			want: map[string]string{"state": "old"},
		},
		{
			name: "rename with dir sync kept",
			run: func(t *testing.T, m *MemFS) {
				durablePut(t, m, ".", "state", "old")
				put(t, m, "state.tmp", "new", true)
				require.NoError(t, m.Rename("state.tmp", "state"))
				require.NoError(t, m.SyncDir("."))
			},
			want: map[string]string{"state": "new"},
		},
		{
			name: "rename of an unsynced file gives its synced content",
			run: func(t *testing.T, m *MemFS) {
				durablePut(t, m, ".", "state", "old")
				put(t, m, "state.tmp", "new", false)
				require.NoError(t, m.Rename("state.tmp", "state"))
				require.NoError(t, m.SyncDir("."))
			},
			want: map[string]string{"state": ""},
		},
		{
			name: "renamed-over target reverts to its durable content",
			run: func(t *testing.T, m *MemFS) {
				durablePut(t, m, ".", "state", "v1")
				f, err := m.OpenFile("state", os.O_WRONLY|os.O_TRUNC, 0)
				require.NoError(t, err)
				_, err = f.Write([]byte("v1-unsynced"))
				require.NoError(t, err)
				require.NoError(t, f.Close())
				put(t, m, "state.tmp", "v2", true)
				require.NoError(t, m.Rename("state.tmp", "state"))
			},
			want: map[string]string{"state": "v1"},
		},
		{
			name: "remove without dir sync reverted",
			run: func(t *testing.T, m *MemFS) {
				durablePut(t, m, ".", "f", "abc")
				require.NoError(t, m.Remove("f"))
			},
			want: map[string]string{"f": "abc"},
		},
		{
			name: "remove with dir sync kept",
			run: func(t *testing.T, m *MemFS) {
				durablePut(t, m, ".", "f", "abc")
				require.NoError(t, m.Remove("f"))
				require.NoError(t, m.SyncDir("."))
			},
			want: map[string]string{},
		},
		{
			name: "removed file synced through an open handle comes back with that content",
			run: func(t *testing.T, m *MemFS) {
				durablePut(t, m, ".", "f", "abc")
				f, err := m.OpenFile("f", os.O_RDWR, 0)
				require.NoError(t, err)
				require.NoError(t, m.Remove("f"))
				_, err = f.WriteAt([]byte("XY"), 1)
				require.NoError(t, err)
				require.NoError(t, f.Sync())
				require.NoError(t, f.Close())
			},
			want: map[string]string{"f": "aXY"},
		},
		{
			name: "truncate without sync reverted",
			run: func(t *testing.T, m *MemFS) {
				durablePut(t, m, ".", "f", "abcdef")
				f, err := m.OpenFile("f", os.O_RDWR, 0)
				require.NoError(t, err)
				require.NoError(t, f.Truncate(2))
				require.NoError(t, f.Close())
			},
			want: map[string]string{"f": "abcdef"},
		},
		{
			name: "truncate with sync kept",
			run: func(t *testing.T, m *MemFS) {
				durablePut(t, m, ".", "f", "abcdef")
				f, err := m.OpenFile("f", os.O_RDWR, 0)
				require.NoError(t, err)
				require.NoError(t, f.Truncate(2))
				require.NoError(t, f.Sync())
				require.NoError(t, f.Truncate(4)) // unsynced growth lost
				require.NoError(t, f.Close())
			},
			want: map[string]string{"f": "ab"},
		},
		{
			name: "shrink then regrow synced reads zeros",
			run: func(t *testing.T, m *MemFS) {
				durablePut(t, m, ".", "f", "abcdef")
				f, err := m.OpenFile("f", os.O_RDWR, 0)
				require.NoError(t, err)
				require.NoError(t, f.Truncate(2))
				_, err = f.WriteAt([]byte("Z"), 4)
				require.NoError(t, err)
				require.NoError(t, f.Sync())
				require.NoError(t, f.Close())
			},
			want: map[string]string{"f": "ab\x00\x00Z"},
		},
		{
			name: "shrink then regrow pages away synced reads zeros",
			run: func(t *testing.T, m *MemFS) {
				durablePut(t, m, ".", "f", big)
				f, err := m.OpenFile("f", os.O_RDWR, 0)
				require.NoError(t, err)
				require.NoError(t, f.Truncate(1))
				_, err = f.WriteAt([]byte("Z"), 3*pageSize)
				require.NoError(t, err)
				require.NoError(t, f.Sync())
				require.NoError(t, f.Close())
			},
			want: map[string]string{"f": "A" + strings.Repeat("\x00", 3*pageSize-1) + "Z"},
		},
		{
			name: "create with O_TRUNC without sync keeps old content",
			run: func(t *testing.T, m *MemFS) {
				durablePut(t, m, ".", "f", "abc")
				put(t, m, "f", "xy", false)
			},
			want: map[string]string{"f": "abc"},
		},
		{
			name: "mkdir without dir sync lost",
			run: func(t *testing.T, m *MemFS) {
				require.NoError(t, m.MkdirAll("a/b", 0o755))
				durablePut(t, m, "a/b", "f", "abc")
				require.NoError(t, m.SyncDir("a"))
			},
			want: map[string]string{},
		},
		{
			name: "mkdir with every parent synced kept",
			run: func(t *testing.T, m *MemFS) {
				require.NoError(t, m.MkdirAll("a/b", 0o755))
				durablePut(t, m, "a/b", "f", "abc")
				require.NoError(t, m.SyncDir("a"))
				require.NoError(t, m.SyncDir("."))
			},
			want:     map[string]string{"a/b/f": "abc"},
			wantDirs: []string{"a", "a/b"},
		},
		{
			name: "directory handle sync acts as SyncDir",
			run: func(t *testing.T, m *MemFS) {
				put(t, m, "f", "abc", true)
				d, err := m.Open(".")
				require.NoError(t, err)
				require.NoError(t, d.Sync())
				require.NoError(t, d.Close())
			},
			want: map[string]string{"f": "abc"},
		},
		{
			name: "removeall without dir sync reverted",
			run: func(t *testing.T, m *MemFS) {
				require.NoError(t, m.MkdirAll("a", 0o755))
				require.NoError(t, m.SyncDir("."))
				durablePut(t, m, "a", "f", "abc")
				put(t, m, "a/g", "unsynced entry", true)
				require.NoError(t, m.RemoveAll("a"))
			},
			want:     map[string]string{"a/f": "abc"},
			wantDirs: []string{"a"},
		},
		{
			name: "removeall with dir sync kept",
			run: func(t *testing.T, m *MemFS) {
				require.NoError(t, m.MkdirAll("a", 0o755))
				require.NoError(t, m.SyncDir("."))
				durablePut(t, m, "a", "f", "abc")
				require.NoError(t, m.RemoveAll("a"))
				require.NoError(t, m.SyncDir("."))
			},
			want: map[string]string{},
		},
		{
			name: "rename between directories synced in the target only",
			run: func(t *testing.T, m *MemFS) {
				require.NoError(t, m.MkdirAll("x", 0o755))
				require.NoError(t, m.MkdirAll("y", 0o755))
				require.NoError(t, m.SyncDir("."))
				durablePut(t, m, "x", "f", "abc")
				require.NoError(t, m.Rename("x/f", "y/f"))
				require.NoError(t, m.SyncDir("y"))
			},
			// The model keeps the first name in depth-first name order.
			want:     map[string]string{"x/f": "abc"},
			wantDirs: []string{"x", "y"},
		},
		{
			name: "rename between directories synced in both",
			run: func(t *testing.T, m *MemFS) {
				require.NoError(t, m.MkdirAll("x", 0o755))
				require.NoError(t, m.MkdirAll("y", 0o755))
				require.NoError(t, m.SyncDir("."))
				durablePut(t, m, "x", "f", "abc")
				require.NoError(t, m.Rename("x/f", "y/f"))
				require.NoError(t, m.SyncDir("y"))
				require.NoError(t, m.SyncDir("x"))
			},
			want:     map[string]string{"y/f": "abc"},
			wantDirs: []string{"x", "y"},
		},
		{
			name: "directories whose durable entries form a cycle",
			run: func(t *testing.T, m *MemFS) {
				require.NoError(t, m.MkdirAll("a/b", 0o755))
				require.NoError(t, m.SyncDir("a"))
				require.NoError(t, m.SyncDir("."))
				require.NoError(t, m.Rename("a/b", "b"))
				require.NoError(t, m.Rename("a", "b/a"))
				require.NoError(t, m.SyncDir("b"))
			},
			want:     map[string]string{},
			wantDirs: []string{"a", "a/b"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := NewMem()
			tt.run(t, m)
			after := m.Crash()
			assert.Equal(t, tt.want, strs(after.Snapshot()))
			assert.ElementsMatch(t, tt.wantDirs, dirs(t, after))
			// What survived a crash is durable: a second crash keeps all of it.
			again := after.Crash()
			assert.Equal(t, tt.want, strs(again.Snapshot()))
			assert.ElementsMatch(t, tt.wantDirs, dirs(t, again))
			// Crashing the crashed MemFS again gives the same state.
			assert.Equal(t, tt.want, strs(m.Crash().Snapshot()))
		})
	}
}

func TestCrashInvalidatesHandles(t *testing.T) {
	m := NewMem()
	f, err := m.Create("f")
	require.NoError(t, err)
	_, err = f.Write([]byte("abc"))
	require.NoError(t, err)
	d, err := m.Open(".")
	require.NoError(t, err)

	after := m.Crash()
	require.True(t, m.Crashed())
	require.False(t, after.Crashed())

	buf := make([]byte, 4)
	calls := map[string]func() error{
		"Read":      func() error { _, err := f.Read(buf); return err },
		"ReadAt":    func() error { _, err := f.ReadAt(buf, 0); return err },
		"Write":     func() error { _, err := f.Write(buf); return err },
		"WriteAt":   func() error { _, err := f.WriteAt(buf, 0); return err },
		"Seek":      func() error { _, err := f.Seek(0, io.SeekStart); return err },
		"Sync":      func() error { return f.Sync() },
		"Truncate":  func() error { return f.Truncate(0) },
		"Stat":      func() error { _, err := f.Stat(); return err },
		"DirSync":   func() error { return d.Sync() },
		"Create":    func() error { _, err := m.Create("g"); return err },
		"Open":      func() error { _, err := m.Open("f"); return err },
		"OpenFile":  func() error { _, err := m.OpenFile("f", os.O_RDWR, 0); return err },
		"Remove":    func() error { return m.Remove("f") },
		"RemoveAll": func() error { return m.RemoveAll("f") },
		"Rename":    func() error { return m.Rename("f", "g") },
		"MkdirAll":  func() error { return m.MkdirAll("d", 0o755) },
		"ReadDir":   func() error { _, err := m.ReadDir("."); return err },
		"FS.Stat":   func() error { _, err := m.Stat("f"); return err },
		"SyncDir":   func() error { return m.SyncDir(".") },
		"Close":     func() error { return f.Close() },
	}
	for name, call := range calls {
		err := call()
		assert.ErrorIs(t, err, ErrCrashed, name)
		var pe *fs.PathError
		var le *os.LinkError
		assert.True(t, errors.As(err, &pe) || errors.As(err, &le), "%s: %T", name, err)
	}
	assert.ErrorIs(t, f.Close(), fs.ErrClosed, "second Close")
	assert.Equal(t, int64(0), m.Ops()-m.OpCount(), "Ops and OpCount agree")

	// The state at the crash is still there for inspection.
	got, err := m.ReadFile("f")
	require.NoError(t, err)
	assert.Equal(t, "abc", string(got))
	assert.Equal(t, map[string]string{"f": "abc"}, strs(m.Snapshot()))
	assert.Empty(t, after.Snapshot())
}

func TestCrashResetsCountersKeepsCapacity(t *testing.T) {
	m := NewMem()
	m.SetCapacity(10)
	m.SetHook(FailAt(100))
	durablePut(t, m, ".", "f", "abcdef")
	require.Equal(t, int64(4), m.Ops()) // create, write, sync, syncdir
	after := m.Crash()
	assert.Equal(t, int64(0), after.Ops())
	assert.Equal(t, int64(6), after.Used())

	f, err := after.OpenFile("f", os.O_WRONLY|os.O_APPEND, 0)
	require.NoError(t, err)
	_, err = f.Write([]byte("12345"))
	assert.ErrorIs(t, err, errENOSPC(), "capacity carried over")
	_, err = f.Write([]byte("1234"))
	assert.NoError(t, err, "no hook carried over")
	require.NoError(t, f.Close())
	assert.Equal(t, int64(10), after.Used())
}

func TestCloneIsIndependent(t *testing.T) {
	m := NewMem()
	durablePut(t, m, ".", "f", "durable")
	put(t, m, "g", "volatile", true)
	appendTo(t, m, "f", "+unsynced", false)

	c := m.Clone()
	assert.Equal(t, strs(m.Snapshot()), strs(c.Snapshot()))
	assert.Equal(t, m.Used(), c.Used())
	assert.Equal(t, int64(0), c.Ops())

	// Changing the clone leaves m alone, and the clone kept the split
	// between durable and volatile state.
	appendTo(t, c, "f", "+clone", true)
	require.NoError(t, c.Remove("g"))
	assert.Equal(t, map[string]string{"f": "durable+unsynced", "g": "volatile"}, strs(m.Snapshot()))
	assert.Equal(t, map[string]string{"f": "durable+unsynced+clone"}, strs(c.Snapshot()))
	assert.Equal(t, map[string]string{"f": "durable+unsynced+clone"}, strs(c.Crash().Snapshot()))
	assert.Equal(t, map[string]string{"f": "durable"}, strs(m.Crash().Snapshot()))

	// A crashed MemFS clones into a live one.
	c2 := m.Clone()
	assert.False(t, c2.Crashed())
	assert.Equal(t, map[string]string{"f": "durable+unsynced", "g": "volatile"}, strs(c2.Snapshot()))
}

func TestCrashRandom(t *testing.T) {
	a := strings.Repeat("A", 2*pageSize)
	m := NewMem()
	durablePut(t, m, ".", "f", a)
	f, err := m.OpenFile("f", os.O_RDWR, 0)
	require.NoError(t, err)
	_, err = f.WriteAt([]byte(strings.Repeat("B", pageSize)), pageSize)
	require.NoError(t, err)
	_, err = f.WriteAt([]byte(strings.Repeat("C", pageSize)), 2*pageSize)
	require.NoError(t, err)
	require.NoError(t, f.Close())
	durablePut(t, m, ".", "stable", "s")
	put(t, m, "new", "n", true) // entry never synced

	A, B, C, Z := strings.Repeat("A", pageSize), strings.Repeat("B", pageSize),
		strings.Repeat("C", pageSize), strings.Repeat("\x00", pageSize)
	allowed := map[string]bool{A + A: true, A + B: true, A + A + Z: true, A + A + C: true, A + B + Z: true, A + B + C: true}
	seenF := map[string]int{}
	seenNew := map[bool]int{}
	for seed := range uint64(200) {
		c := m.Clone()
		got := strs(c.CrashRandom(seed).Snapshot())
		again := strs(c.CrashRandom(seed).Snapshot())
		require.Equal(t, got, again, "seed %d is deterministic", seed)
		assert.True(t, allowed[got["f"]], "seed %d: f of length %d", seed, len(got["f"]))
		assert.Equal(t, "s", got["stable"], "seed %d", seed)
		seenF[got["f"]]++
		n, ok := got["new"]
		if ok {
			assert.Equal(t, "n", n, "seed %d", seed)
		}
		seenNew[ok]++
	}
	t.Logf("outcomes of f: %d, of new: %v", len(seenF), seenNew)
	assert.Len(t, seenF, len(allowed), "every torn outcome is reachable")
	assert.Len(t, seenNew, 2, "an unsynced entry may or may not survive")

	// A MemFS with nothing unsynced crashes the same way whatever the seed.
	clean := NewMem()
	durablePut(t, clean, ".", "f", "abc")
	for seed := range uint64(20) {
		assert.Equal(t, map[string]string{"f": "abc"}, strs(clean.Clone().CrashRandom(seed).Snapshot()), fmt.Sprint(seed))
	}
}

// syncEverything syncs every file and directory the volatile tree names.
func syncEverything(t *testing.T, m *MemFS) {
	t.Helper()
	for name, v := range tree(t, m, ".") {
		if v == "<dir>" {
			require.NoError(t, m.SyncDir(name))
			continue
		}
		f, err := m.Open(name)
		require.NoError(t, err)
		require.NoError(t, f.Sync())
		require.NoError(t, f.Close())
	}
	require.NoError(t, m.SyncDir("."))
}

// TestCrashAfterFullSyncKeepsEverything drives MemFS with random operations
// (writes across page boundaries, truncates, renames, removes) and checks,
// every few steps, that once every file and directory is synced a crash
// keeps the whole volatile tree, and that a crash without that sync keeps
// every file with one of the contents it had when synced.
func TestCrashAfterFullSyncKeepsEverything(t *testing.T) {
	for _, seed := range []uint64{11, 12, 13} {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			t.Logf("seed %d", seed)
			rng := rand.New(rand.NewPCG(seed, 1))
			m := NewMem()
			e := &confEnv{fs: m, root: "", files: map[string]File{}}
			syncedContents := map[string]bool{"": true}
			for step := range 600 {
				desc, _, err := randomStep(rng, e)
				if label, ok := strings.CutSuffix(desc, " sync"); ok && err == nil {
					if f := e.files[label].(*memFile); !f.n.dir {
						syncedContents[string(f.n.data)] = true
					}
				}
				if step%50 != 49 {
					continue
				}
				for name, content := range strs(m.Clone().Crash().Snapshot()) {
					assert.True(t, syncedContents[content], "step %d: %s holds content never synced", step, name)
				}
				synced := m.Clone()
				syncEverything(t, synced)
				want := tree(t, synced, ".")
				require.Equal(t, tree(t, m, "."), want, "step %d: syncing changed the volatile tree", step)
				assert.Equal(t, want, tree(t, synced.Crash(), "."), "step %d", step)
				for s := range uint64(3) {
					assert.Equal(t, want, tree(t, synced.Clone().CrashRandom(s), "."), "step %d seed %d", step, s)
				}
			}
			for _, f := range e.files {
				f.Close()
			}
		})
	}
}

// TestCrashPointTearsTheWrite checks that a write hitting the crash point
// reaches the volatile state only: Crash drops it, CrashRandom may keep
// any of its pages.
func TestCrashPointTearsTheWrite(t *testing.T) {
	A, B := strings.Repeat("A", pageSize), strings.Repeat("B", pageSize)
	for _, tt := range []struct {
		name  string
		write func(f File) error
		want  map[string]bool // CrashRandom outcomes
	}{
		{"WriteAt", func(f File) error { _, err := f.WriteAt([]byte(B+B), 0); return err },
			map[string]bool{A + A: true, A + B: true, B + A: true, B + B: true}},
		{"Write", func(f File) error { _, err := f.Write([]byte(B)); return err },
			map[string]bool{A + A: true, A + B: true}},
		{"Truncate", func(f File) error { return f.Truncate(pageSize) },
			map[string]bool{A + A: true, A: true}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			m := NewMem()
			durablePut(t, m, ".", "f", A+A)
			f, err := m.OpenFile("f", os.O_RDWR, 0)
			require.NoError(t, err)
			_, err = f.Seek(pageSize, io.SeekStart)
			require.NoError(t, err)
			m.CrashAt(0, OpWrite, OpTruncate)
			assert.ErrorIs(t, tt.write(f), ErrCrashed)
			assert.True(t, m.Crashed())
			assert.Equal(t, map[string]string{"f": A + A}, strs(m.Crash().Snapshot()))
			seen := map[string]bool{}
			for seed := range uint64(64) {
				got := strs(m.CrashRandom(seed).Snapshot())["f"]
				assert.True(t, tt.want[got], "seed %d: unexpected content of %d bytes", seed, len(got))
				seen[got] = true
			}
			assert.Equal(t, tt.want, seen)
		})
	}
}
