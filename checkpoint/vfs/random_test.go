package vfs

import (
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestConformanceRandom runs the same seeded random sequence of operations
// against the OS filesystem and MemFS and requires the same result from
// every step, then the same tree.
func TestConformanceRandom(t *testing.T) {
	steps := 1000
	if testing.Short() {
		steps = 300
	}
	for _, seed := range []uint64{1, 2, 3, 4} {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			t.Logf("seed %d", seed)
			osEnv := &confEnv{fs: OS(), root: t.TempDir(), files: map[string]File{}}
			memEnv := &confEnv{fs: NewMem(), root: "/", files: map[string]File{}}
			osRng := rand.New(rand.NewPCG(seed, 0))
			memRng := rand.New(rand.NewPCG(seed, 0))
			var history []string
			for i := range steps {
				desc, wantOut, wantErr := randomStep(osRng, osEnv)
				_, gotOut, gotErr := randomStep(memRng, memEnv)
				history = append(history, desc)
				if len(history) > 12 {
					history = history[1:]
				}
				require.Equal(t, confResult{wantOut, errClass(wantErr)}, confResult{gotOut, errClass(gotErr)},
					"seed %d step %d %s; recent steps %q", seed, i, desc, history)
			}
			for _, f := range osEnv.files {
				f.Close()
			}
			for _, f := range memEnv.files {
				f.Close()
			}
			require.Equal(t, tree(t, OS(), osEnv.root), tree(t, memEnv.fs, "/"))
		})
	}
}

var (
	randNames = []string{"a", "b", "d", "d/a", "d/b", "d/e", "d/e/a", "x", "x/a", "a/z"}
	randFlags = []int{
		os.O_RDONLY, os.O_WRONLY, os.O_RDWR,
		os.O_RDWR | os.O_CREATE, os.O_WRONLY | os.O_CREATE | os.O_TRUNC,
		os.O_RDWR | os.O_CREATE | os.O_EXCL, os.O_WRONLY | os.O_CREATE | os.O_APPEND,
		os.O_RDWR | os.O_APPEND, os.O_RDONLY | os.O_CREATE,
	}
	randLabels = []string{"h0", "h1", "h2", "h3"}
)

// randomStep draws one operation from rng and runs it on e. Both
// environments draw the same values because their generators share a seed
// and randomStep draws the same number of values whatever the outcome.
func randomStep(rng *rand.Rand, e *confEnv) (string, string, error) {
	name := randNames[rng.IntN(len(randNames))]
	other := randNames[rng.IntN(len(randNames))]
	label := randLabels[rng.IntN(len(randLabels))]
	flag := randFlags[rng.IntN(len(randFlags))]
	off := rng.Int64N(3*pageSize + 50)
	size := rng.IntN(40)
	op := rng.IntN(20)
	data := make([]byte, size)
	for i := range data {
		data[i] = byte('a' + rng.IntN(26))
	}
	f := e.files[label]
	if f == nil && op < 10 {
		op += 10 // handle operations need a handle
	}
	switch op {
	case 0:
		n, err := f.Write(data)
		return fmt.Sprintf("%s write %d", label, size), fmt.Sprint(n), err
	case 1:
		n, err := f.WriteAt(data, off)
		return fmt.Sprintf("%s writeat %d@%d", label, size, off), fmt.Sprint(n), err
	case 2:
		b := make([]byte, size)
		n, err := f.Read(b)
		return fmt.Sprintf("%s read %d", label, size), fmt.Sprintf("%d %q", n, b[:n]), err
	case 3:
		b := make([]byte, size)
		n, err := f.ReadAt(b, off)
		return fmt.Sprintf("%s readat %d@%d", label, size, off), fmt.Sprintf("%d %q", n, b[:n]), err
	case 4:
		whence := []int{io.SeekStart, io.SeekCurrent}[off%2]
		pos, err := f.Seek(off-20, whence)
		return fmt.Sprintf("%s seek %d,%d", label, off-20, whence), fmt.Sprint(pos), err
	case 5:
		return fmt.Sprintf("%s truncate %d", label, off), "", f.Truncate(off)
	case 6:
		return label + " sync", "", f.Sync()
	case 7:
		out, err := infoResult(f.Stat())
		return label + " stat", out, err
	case 8, 9:
		delete(e.files, label)
		return label + " close", "", f.Close()
	case 10, 11, 12:
		if f != nil {
			f.Close()
		}
		delete(e.files, label)
		g, err := e.fs.OpenFile(e.p(name), flag, 0o644)
		if err == nil {
			e.files[label] = g
		}
		return fmt.Sprintf("%s open %s %#x", label, name, flag), "", err
	case 13:
		return "remove " + name, "", e.fs.Remove(e.p(name))
	case 14:
		if off%4 != 0 {
			return "noop", "", nil
		}
		return "removeall " + name, "", e.fs.RemoveAll(e.p(name))
	case 15:
		return "rename " + name + " " + other, "", e.fs.Rename(e.p(name), e.p(other))
	case 16:
		return "mkdirall " + name, "", e.fs.MkdirAll(e.p(name), 0o755)
	case 17:
		list, err := e.fs.ReadDir(e.p(name))
		var out string
		for _, de := range list {
			out += fmt.Sprintf("%s:%v ", de.Name(), de.IsDir())
		}
		return "readdir " + name, out, err
	case 18:
		out, err := infoResult(e.fs.Stat(e.p(name)))
		return "stat " + name, out, err
	default:
		return "syncdir " + name, "", e.fs.SyncDir(e.p(name))
	}
}
