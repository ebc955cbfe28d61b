package vfs

import (
	"io/fs"
	"math/bits"
	"path"
	"strings"
	"syscall"
	"time"
)

// pageSize is the unit in which MemFS tracks which bytes of a file changed
// since its last Sync, and in which CrashRandom tears unsynced writes.
const pageSize = 4096

// node is a file or a directory of a MemFS, an inode: names live in the
// parent directory's maps, so one node may be reachable under its volatile
// name and, until its old directory is synced, under a durable one too.
type node struct {
	dir  bool
	perm fs.FileMode

	// Regular files. data is what reads see; synced is the content as of
	// the last Sync. dirty is a bitmap of the pages where data may differ
	// from synced; outside them the common prefix is equal. A bitmap keeps
	// Sync proportional to the file size in pages/64, and marking free of
	// allocation once it has grown.
	data   []byte
	synced []byte
	dirty  []uint64
	// linked is true while the volatile tree names the file, when its size
	// counts against the MemFS capacity.
	linked bool

	// Directories. entries is the volatile listing, durable the listing as
	// of the last SyncDir.
	entries map[string]*node
	durable map[string]*node
}

func newDir(perm fs.FileMode) *node {
	return &node{dir: true, perm: perm & fs.ModePerm, entries: map[string]*node{}, durable: map[string]*node{}}
}

func newFile(perm fs.FileMode) *node {
	return &node{perm: perm & fs.ModePerm}
}

// markDirty records that bytes [from, to) of data changed.
func (n *node) markDirty(from, to int64) {
	if to <= from {
		return
	}
	last := (to - 1) / pageSize
	if words := int(last/64) + 1; words > len(n.dirty) {
		n.dirty = append(n.dirty, make([]uint64, words-len(n.dirty))...)
	}
	for p := from / pageSize; p <= last; p++ {
		n.dirty[p/64] |= 1 << (p % 64)
	}
}

// isDirty reports whether any page changed since the last Sync.
func (n *node) isDirty() bool {
	for _, w := range n.dirty {
		if w != 0 {
			return true
		}
	}
	return false
}

// dirtyPages calls fn with each dirty page index in ascending order.
func (n *node) dirtyPages(fn func(p int64)) {
	for i, w := range n.dirty {
		for w != 0 {
			fn(int64(i)*64 + int64(bits.TrailingZeros64(w)))
			w &= w - 1
		}
	}
}

// resize sets the volatile size, zero-filling any extension. Growth beyond
// the capacity at least doubles it, so that appends cost amortised O(1).
func (n *node) resize(size int64) {
	old := int64(len(n.data))
	switch {
	case size < old:
		n.data = n.data[:size]
	case size > old:
		if size > int64(cap(n.data)) {
			grown := make([]byte, old, max(size, 2*int64(cap(n.data))))
			copy(grown, n.data)
			n.data = grown
		}
		n.data = n.data[:size]
		clear(n.data[old:])
		n.markDirty(old, size)
	}
}

// writeAt copies p into data at off, growing the file as needed.
func (n *node) writeAt(p []byte, off int64) {
	end := off + int64(len(p))
	if end > int64(len(n.data)) {
		n.resize(end)
	}
	copy(n.data[off:], p)
	n.markDirty(off, end)
}

// sync makes data the durable content, copying only the dirty pages.
func (n *node) sync() {
	size := int64(len(n.data))
	if int64(len(n.synced)) > size {
		n.synced = n.synced[:size]
	} else if grow := size - int64(len(n.synced)); grow > 0 {
		n.synced = append(n.synced, make([]byte, grow)...)
	}
	n.dirtyPages(func(p int64) {
		from := p * pageSize
		if from < size {
			copy(n.synced[from:min(from+pageSize, size)], n.data[from:])
		}
	})
	clear(n.dirty)
}

// info describes n under name.
func (n *node) info(name string) fs.FileInfo {
	return &memInfo{name: name, size: int64(len(n.data)), mode: n.mode()}
}

func (n *node) mode() fs.FileMode {
	if n.dir {
		return fs.ModeDir | n.perm
	}
	return n.perm
}

// memInfo is the fs.FileInfo and fs.DirEntry of a MemFS node.
type memInfo struct {
	name string
	size int64
	mode fs.FileMode
}

func (i *memInfo) Name() string               { return i.name }
func (i *memInfo) Size() int64                { return i.size }
func (i *memInfo) Mode() fs.FileMode          { return i.mode }
func (i *memInfo) ModTime() time.Time         { return time.Time{} }
func (i *memInfo) IsDir() bool                { return i.mode.IsDir() }
func (i *memInfo) Sys() any                   { return nil }
func (i *memInfo) Type() fs.FileMode          { return i.mode.Type() }
func (i *memInfo) Info() (fs.FileInfo, error) { return i, nil }
func (i *memInfo) String() string             { return fs.FormatFileInfo(i) }

// cleanPath turns a caller's name into the MemFS form: slash-separated,
// relative to the root, without a leading slash, "." for the root. "a/b",
// "/a/b" and "./a//b" all name the same file. An empty name names nothing.
func cleanPath(name string) (string, bool) {
	if name == "" {
		return "", false
	}
	p := path.Clean("/" + name)
	if p == "/" {
		return ".", true
	}
	return p[1:], true
}

// walk returns the node at the cleaned path p, or ENOENT or ENOTDIR.
func (m *MemFS) walk(p string) (*node, error) {
	n := m.root
	if p == "." {
		return n, nil
	}
	for _, part := range strings.Split(p, "/") {
		if !n.dir {
			return nil, syscall.ENOTDIR
		}
		next, ok := n.entries[part]
		if !ok {
			return nil, syscall.ENOENT
		}
		n = next
	}
	return n, nil
}

// walkParent returns the directory holding the cleaned path p and p's last
// element. The root has no parent: it yields EINVAL.
func (m *MemFS) walkParent(p string) (*node, string, error) {
	if p == "." {
		return nil, "", syscall.EINVAL
	}
	dir, base := path.Split(p)
	parent, err := m.walk(cleanDir(dir))
	if err != nil {
		return nil, "", err
	}
	if !parent.dir {
		return nil, "", syscall.ENOTDIR
	}
	return parent, base, nil
}

// cleanDir turns path.Split's directory part into the MemFS form.
func cleanDir(dir string) string {
	dir = strings.TrimSuffix(dir, "/")
	if dir == "" {
		return "."
	}
	return dir
}

// unlink marks n and everything below it as no longer named by the
// volatile tree, releasing their bytes from the capacity count.
func (m *MemFS) unlink(n *node) {
	if !n.dir {
		if n.linked {
			n.linked = false
			m.used -= int64(len(n.data))
		}
		return
	}
	for _, c := range n.entries {
		m.unlink(c)
	}
}
