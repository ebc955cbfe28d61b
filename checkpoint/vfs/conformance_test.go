package vfs

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"strings"
	"syscall"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// confEnv is one filesystem under a conformance script: names are joined
// to root, handles are kept by label.
type confEnv struct {
	fs    FS
	root  string
	files map[string]File
}

func (e *confEnv) p(name string) string { return path.Join(e.root, name) }

// file returns the handle labelled l; scripts only use labels they opened.
func (e *confEnv) file(l string) File { return e.files[l] }

// open opens name with flag and keeps the handle as l.
func (e *confEnv) open(l, name string, flag int) (string, error) {
	f, err := e.fs.OpenFile(e.p(name), flag, 0o644)
	if err != nil {
		return "", err
	}
	e.files[l] = f
	return strings.TrimPrefix(strings.TrimPrefix(f.Name(), e.root), "/"), nil
}

// errClass names an error by the sentinels callers test for, and the
// wrapper type, so that two implementations' errors can be compared.
func errClass(err error) string {
	if err == nil {
		return "nil"
	}
	wrapper := "plain"
	var pe *fs.PathError
	var le *os.LinkError
	switch {
	case errors.As(err, &le):
		wrapper = "LinkError"
	case errors.As(err, &pe):
		wrapper = "PathError"
	}
	for _, s := range []struct {
		name string
		err  error
	}{
		{"ENOTDIR", syscall.ENOTDIR}, {"EISDIR", syscall.EISDIR}, {"ENOTEMPTY", syscall.ENOTEMPTY},
		{"EBADF", syscall.EBADF}, {"EINVAL", syscall.EINVAL}, {"EEXIST", syscall.EEXIST},
		{"ENOENT", syscall.ENOENT}, {"ENOSPC", syscall.ENOSPC}, {"ErrClosed", fs.ErrClosed},
		{"EOF", io.EOF}, {"ErrNotExist", fs.ErrNotExist}, {"ErrExist", fs.ErrExist},
	} {
		if errors.Is(err, s.err) {
			return wrapper + "/" + s.name
		}
	}
	return wrapper + "/other"
}

func readResult(n int, b []byte, err error) (string, error) {
	return fmt.Sprintf("%d %q", n, b[:n]), err
}

func infoResult(fi fs.FileInfo, err error) (string, error) {
	if err != nil {
		return "", err
	}
	size := fi.Size()
	if fi.IsDir() {
		size = -1 // directory sizes differ between filesystems
	}
	return fmt.Sprintf("%s dir=%v size=%d", fi.Name(), fi.IsDir(), size), nil
}

// cat reads a whole file through the FS.
func (e *confEnv) cat(name string) (string, error) {
	f, err := e.fs.Open(e.p(name))
	if err != nil {
		return "", err
	}
	defer f.Close()
	b, err := io.ReadAll(f)
	return fmt.Sprintf("%q", b), err
}

type confStep struct {
	name string
	do   func(e *confEnv) (string, error)
}

// confScript exercises every FS and File method, with the errors callers
// rely on, in the order a store would meet them.
var confScript = []confStep{
	{"mkdirall", func(e *confEnv) (string, error) { return "", e.fs.MkdirAll(e.p("d/e"), 0o755) }},
	{"mkdirall again", func(e *confEnv) (string, error) { return "", e.fs.MkdirAll(e.p("d/e"), 0o755) }},
	{"create", func(e *confEnv) (string, error) {
		f, err := e.fs.Create(e.p("d/f"))
		if err != nil {
			return "", err
		}
		e.files["f"] = f
		return strings.TrimPrefix(strings.TrimPrefix(f.Name(), e.root), "/"), nil
	}},
	{"write", func(e *confEnv) (string, error) {
		n, err := e.file("f").Write([]byte("hello"))
		return fmt.Sprint(n), err
	}},
	{"stat file", func(e *confEnv) (string, error) { return infoResult(e.fs.Stat(e.p("d/f"))) }},
	{"read at end", func(e *confEnv) (string, error) {
		b := make([]byte, 4)
		n, err := e.file("f").Read(b)
		return readResult(n, b, err)
	}},
	{"read empty buffer", func(e *confEnv) (string, error) {
		n, err := e.file("f").Read(nil)
		return fmt.Sprint(n), err
	}},
	{"seek start", func(e *confEnv) (string, error) {
		off, err := e.file("f").Seek(0, io.SeekStart)
		return fmt.Sprint(off), err
	}},
	{"read", func(e *confEnv) (string, error) {
		b := make([]byte, 10)
		n, err := e.file("f").Read(b)
		return readResult(n, b, err)
	}},
	{"readat full", func(e *confEnv) (string, error) {
		b := make([]byte, 3)
		n, err := e.file("f").ReadAt(b, 2)
		return readResult(n, b, err)
	}},
	{"readat short", func(e *confEnv) (string, error) {
		b := make([]byte, 10)
		n, err := e.file("f").ReadAt(b, 2)
		return readResult(n, b, err)
	}},
	{"readat past end", func(e *confEnv) (string, error) {
		b := make([]byte, 2)
		n, err := e.file("f").ReadAt(b, 100)
		return readResult(n, b, err)
	}},
	{"readat negative", func(e *confEnv) (string, error) {
		b := make([]byte, 2)
		n, err := e.file("f").ReadAt(b, -1)
		return readResult(n, b, err)
	}},
	{"writeat past end", func(e *confEnv) (string, error) {
		n, err := e.file("f").WriteAt([]byte("XY"), 10)
		return fmt.Sprint(n), err
	}},
	{"writeat negative", func(e *confEnv) (string, error) {
		n, err := e.file("f").WriteAt([]byte("XY"), -3)
		return fmt.Sprint(n), err
	}},
	{"cat zero filled", func(e *confEnv) (string, error) { return e.cat("d/f") }},
	{"handle stat", func(e *confEnv) (string, error) { return infoResult(e.file("f").Stat()) }},
	{"truncate shrink", func(e *confEnv) (string, error) { return "", e.file("f").Truncate(3) }},
	{"truncate grow", func(e *confEnv) (string, error) { return "", e.file("f").Truncate(6) }},
	{"truncate negative", func(e *confEnv) (string, error) { return "", e.file("f").Truncate(-1) }},
	{"cat truncated", func(e *confEnv) (string, error) { return e.cat("d/f") }},
	{"offset kept by truncate", func(e *confEnv) (string, error) {
		off, err := e.file("f").Seek(0, io.SeekCurrent)
		return fmt.Sprint(off), err
	}},
	{"seek end", func(e *confEnv) (string, error) {
		off, err := e.file("f").Seek(-1, io.SeekEnd)
		return fmt.Sprint(off), err
	}},
	{"seek negative", func(e *confEnv) (string, error) {
		off, err := e.file("f").Seek(-100, io.SeekCurrent)
		return fmt.Sprint(off), err
	}},
	{"seek past end then write", func(e *confEnv) (string, error) {
		if _, err := e.file("f").Seek(8, io.SeekStart); err != nil {
			return "", err
		}
		n, err := e.file("f").Write([]byte("Z"))
		return fmt.Sprint(n), err
	}},
	{"cat after sparse write", func(e *confEnv) (string, error) { return e.cat("d/f") }},
	{"sync file", func(e *confEnv) (string, error) { return "", e.file("f").Sync() }},
	{"open read-only", func(e *confEnv) (string, error) { return e.open("ro", "d/f", os.O_RDONLY) }},
	{"write read-only", func(e *confEnv) (string, error) {
		n, err := e.file("ro").Write([]byte("x"))
		return fmt.Sprint(n), err
	}},
	{"truncate read-only", func(e *confEnv) (string, error) { return "", e.file("ro").Truncate(1) }},
	{"sync read-only", func(e *confEnv) (string, error) { return "", e.file("ro").Sync() }},
	{"open write-only", func(e *confEnv) (string, error) { return e.open("wo", "d/f", os.O_WRONLY) }},
	{"read write-only", func(e *confEnv) (string, error) {
		b := make([]byte, 2)
		n, err := e.file("wo").Read(b)
		return readResult(n, b, err)
	}},
	{"write write-only", func(e *confEnv) (string, error) {
		n, err := e.file("wo").Write([]byte("HE"))
		return fmt.Sprint(n), err
	}},
	{"read shared content", func(e *confEnv) (string, error) {
		b := make([]byte, 4)
		n, err := e.file("ro").Read(b)
		return readResult(n, b, err)
	}},
	{"open append", func(e *confEnv) (string, error) {
		return e.open("ap", "d/f", os.O_WRONLY|os.O_APPEND)
	}},
	{"append", func(e *confEnv) (string, error) {
		n, err := e.file("ap").Write([]byte("++"))
		return fmt.Sprint(n), err
	}},
	{"writeat on append", func(e *confEnv) (string, error) {
		n, err := e.file("ap").WriteAt([]byte("!"), 0)
		return fmt.Sprint(n), err
	}},
	{"cat appended", func(e *confEnv) (string, error) { return e.cat("d/f") }},
	{"open missing", func(e *confEnv) (string, error) { return e.open("x", "d/missing", os.O_RDONLY) }},
	{"open through file", func(e *confEnv) (string, error) { return e.open("x", "d/f/x", os.O_RDONLY) }},
	{"create in missing dir", func(e *confEnv) (string, error) {
		return e.open("x", "nodir/x", os.O_RDWR|os.O_CREATE)
	}},
	{"create through file", func(e *confEnv) (string, error) {
		return e.open("x", "d/f/x", os.O_RDWR|os.O_CREATE)
	}},
	{"create excl existing", func(e *confEnv) (string, error) {
		return e.open("x", "d/f", os.O_RDWR|os.O_CREATE|os.O_EXCL)
	}},
	{"create excl new", func(e *confEnv) (string, error) {
		return e.open("x", "d/x", os.O_RDWR|os.O_CREATE|os.O_EXCL)
	}},
	{"write x", func(e *confEnv) (string, error) {
		n, err := e.file("x").Write([]byte("xxx"))
		return fmt.Sprint(n), err
	}},
	{"open trunc", func(e *confEnv) (string, error) { return e.open("t", "d/x", os.O_RDWR|os.O_TRUNC) }},
	{"stat truncated", func(e *confEnv) (string, error) { return infoResult(e.fs.Stat(e.p("d/x"))) }},
	{"create on dir", func(e *confEnv) (string, error) {
		_, err := e.fs.Create(e.p("d"))
		return "", err
	}},
	{"open dir write", func(e *confEnv) (string, error) { return e.open("x", "d", os.O_RDWR) }},
	{"open dir", func(e *confEnv) (string, error) { return e.open("dir", "d", os.O_RDONLY) }},
	{"read dir handle", func(e *confEnv) (string, error) {
		b := make([]byte, 2)
		n, err := e.file("dir").Read(b)
		return readResult(n, b, err)
	}},
	{"stat dir handle", func(e *confEnv) (string, error) { return infoResult(e.file("dir").Stat()) }},
	{"sync dir handle", func(e *confEnv) (string, error) { return "", e.file("dir").Sync() }},
	{"stat dir", func(e *confEnv) (string, error) { return infoResult(e.fs.Stat(e.p("d/e"))) }},
	{"stat missing", func(e *confEnv) (string, error) { return infoResult(e.fs.Stat(e.p("d/nope"))) }},
	{"stat through file", func(e *confEnv) (string, error) { return infoResult(e.fs.Stat(e.p("d/f/g"))) }},
	{"readdir", func(e *confEnv) (string, error) {
		list, err := e.fs.ReadDir(e.p("d"))
		var names []string
		for _, de := range list {
			fi, ierr := de.Info()
			if ierr != nil {
				return "", ierr
			}
			names = append(names, fmt.Sprintf("%s:%v:%v", de.Name(), de.IsDir(), fi.IsDir()))
		}
		return strings.Join(names, ","), err
	}},
	{"readdir file", func(e *confEnv) (string, error) {
		_, err := e.fs.ReadDir(e.p("d/f"))
		return "", err
	}},
	{"readdir missing", func(e *confEnv) (string, error) {
		_, err := e.fs.ReadDir(e.p("nope"))
		return "", err
	}},
	{"remove non-empty dir", func(e *confEnv) (string, error) { return "", e.fs.Remove(e.p("d")) }},
	{"remove missing", func(e *confEnv) (string, error) { return "", e.fs.Remove(e.p("d/nope")) }},
	{"rename file", func(e *confEnv) (string, error) { return "", e.fs.Rename(e.p("d/f"), e.p("d/g")) }},
	{"stat old name", func(e *confEnv) (string, error) { return infoResult(e.fs.Stat(e.p("d/f"))) }},
	{"handle survives rename", func(e *confEnv) (string, error) { return infoResult(e.file("f").Stat()) }},
	{"write after rename", func(e *confEnv) (string, error) {
		n, err := e.file("f").WriteAt([]byte("R"), 0)
		return fmt.Sprint(n), err
	}},
	{"cat renamed", func(e *confEnv) (string, error) { return e.cat("d/g") }},
	{"rename over file", func(e *confEnv) (string, error) { return "", e.fs.Rename(e.p("d/x"), e.p("d/g")) }},
	{"cat replaced", func(e *confEnv) (string, error) { return e.cat("d/g") }},
	{"old handle of replaced file", func(e *confEnv) (string, error) {
		b := make([]byte, 3)
		n, err := e.file("f").ReadAt(b, 0)
		return readResult(n, b, err)
	}},
	{"rename file onto dir", func(e *confEnv) (string, error) { return "", e.fs.Rename(e.p("d/g"), e.p("d/e")) }},
	{"rename dir onto file", func(e *confEnv) (string, error) { return "", e.fs.Rename(e.p("d/e"), e.p("d/g")) }},
	{"rename dir into itself", func(e *confEnv) (string, error) { return "", e.fs.Rename(e.p("d"), e.p("d/e/d")) }},
	{"rename missing", func(e *confEnv) (string, error) { return "", e.fs.Rename(e.p("d/nope"), e.p("d/z")) }},
	{"rename into missing dir", func(e *confEnv) (string, error) {
		return "", e.fs.Rename(e.p("d/g"), e.p("nodir/g"))
	}},
	{"rename to itself", func(e *confEnv) (string, error) { return "", e.fs.Rename(e.p("d/g"), e.p("d/g")) }},
	{"rename dir", func(e *confEnv) (string, error) { return "", e.fs.Rename(e.p("d/e"), e.p("e2")) }},
	{"mkdirall over file", func(e *confEnv) (string, error) { return "", e.fs.MkdirAll(e.p("d/g"), 0o755) }},
	{"mkdirall through file", func(e *confEnv) (string, error) { return "", e.fs.MkdirAll(e.p("d/g/h"), 0o755) }},
	{"syncdir", func(e *confEnv) (string, error) { return "", e.fs.SyncDir(e.p("d")) }},
	{"syncdir root", func(e *confEnv) (string, error) { return "", e.fs.SyncDir(e.p(".")) }},
	{"syncdir file", func(e *confEnv) (string, error) { return "", e.fs.SyncDir(e.p("d/g")) }},
	{"syncdir missing", func(e *confEnv) (string, error) { return "", e.fs.SyncDir(e.p("nope")) }},
	{"remove open file", func(e *confEnv) (string, error) { return "", e.fs.Remove(e.p("d/g")) }},
	{"write removed file", func(e *confEnv) (string, error) {
		n, err := e.file("x").WriteAt([]byte("gone"), 0)
		return fmt.Sprint(n), err
	}},
	{"read removed file", func(e *confEnv) (string, error) {
		b := make([]byte, 8)
		n, err := e.file("x").ReadAt(b, 0)
		return readResult(n, b, err)
	}},
	{"close", func(e *confEnv) (string, error) { return "", e.file("x").Close() }},
	{"close again", func(e *confEnv) (string, error) { return "", e.file("x").Close() }},
	{"read closed", func(e *confEnv) (string, error) {
		b := make([]byte, 2)
		n, err := e.file("x").ReadAt(b, 0)
		return readResult(n, b, err)
	}},
	{"write closed", func(e *confEnv) (string, error) {
		n, err := e.file("x").Write([]byte("a"))
		return fmt.Sprint(n), err
	}},
	{"remove empty dir", func(e *confEnv) (string, error) { return "", e.fs.Remove(e.p("e2")) }},
	{"removeall", func(e *confEnv) (string, error) { return "", e.fs.RemoveAll(e.p("d")) }},
	{"removeall missing", func(e *confEnv) (string, error) { return "", e.fs.RemoveAll(e.p("d")) }},
	{"stat removed", func(e *confEnv) (string, error) { return infoResult(e.fs.Stat(e.p("d"))) }},
}

type confResult struct {
	out string
	err string
}

// runScript runs steps on e and closes every handle it opened.
func runScript(e *confEnv, steps []confStep) []confResult {
	results := make([]confResult, len(steps))
	for i, s := range steps {
		out, err := s.do(e)
		results[i] = confResult{out, errClass(err)}
	}
	for _, f := range e.files {
		f.Close()
	}
	return results
}

// tree lists every file and directory under root with the files' content.
func tree(t *testing.T, fsys FS, root string) map[string]string {
	t.Helper()
	out := map[string]string{}
	var walk func(dir string)
	walk = func(dir string) {
		list, err := fsys.ReadDir(path.Join(root, dir))
		require.NoError(t, err)
		for _, de := range list {
			name := path.Join(dir, de.Name())
			if de.IsDir() {
				out[name] = "<dir>"
				walk(name)
				continue
			}
			f, err := fsys.Open(path.Join(root, name))
			require.NoError(t, err)
			b, err := io.ReadAll(f)
			require.NoError(t, err)
			require.NoError(t, f.Close())
			out[name] = string(b)
		}
	}
	walk(".")
	return out
}

func TestConformanceScript(t *testing.T) {
	osEnv := &confEnv{fs: OS(), root: t.TempDir(), files: map[string]File{}}
	want := runScript(osEnv, confScript)
	wantTree := tree(t, OS(), osEnv.root)

	for _, root := range []string{"", "/", "./top/.."} {
		t.Run(fmt.Sprintf("root=%q", root), func(t *testing.T) {
			m := NewMem()
			got := runScript(&confEnv{fs: m, root: root, files: map[string]File{}}, confScript)
			for i, s := range confScript {
				assert.Equal(t, want[i], got[i], "step %d %q", i, s.name)
			}
			assert.Equal(t, wantTree, tree(t, m, root))
		})
	}
}

// TestConformanceScriptExpectations pins a few outcomes of the script on
// the real filesystem, so that a script step that always errors (on both
// implementations alike) cannot pass unnoticed.
func TestConformanceScriptExpectations(t *testing.T) {
	e := &confEnv{fs: NewMem(), root: "", files: map[string]File{}}
	results := runScript(e, confScript)
	byName := map[string]confResult{}
	for i, s := range confScript {
		byName[s.name] = results[i]
	}
	for name, want := range map[string]confResult{
		"write":                  {"5", "nil"},
		"read at end":            {`0 ""`, "plain/EOF"},
		"readat short":           {`3 "llo"`, "plain/EOF"},
		"cat zero filled":        {`"hello\x00\x00\x00\x00\x00XY"`, "nil"},
		"cat truncated":          {`"hel\x00\x00\x00"`, "nil"},
		"cat after sparse write": {`"hel\x00\x00\x00\x00\x00Z"`, "nil"},
		"cat appended":           {`"HEl\x00\x00\x00\x00\x00Z++"`, "nil"},
		"open missing":           {"", "PathError/ENOENT"},
		"create excl existing":   {"", "PathError/EEXIST"},
		"remove non-empty dir":   {"", "PathError/ENOTEMPTY"},
		"rename file onto dir":   {"", "LinkError/EEXIST"},
		"cat replaced":           {`""`, "nil"},
		"syncdir file":           {"", "PathError/ENOTDIR"},
		"close again":            {"", "PathError/ErrClosed"},
		"readdir":                {"e:true:true,f:false:false,x:false:false", "nil"},
	} {
		assert.Equal(t, want, byName[name], name)
	}
}
