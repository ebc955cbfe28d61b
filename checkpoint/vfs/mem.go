package vfs

import (
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path"
	"slices"
	"strings"
	"sync"
	"syscall"
)

// MemFS is an in-memory FS for tests, not for production: it keeps apart
// what a crash would keep (the durable state) and what it would lose (the
// volatile state), can crash on demand, fails chosen operations through a
// Hook and can run out of space. See the package documentation for the
// crash model.
//
// Names are cleaned with path.Clean and taken relative to the MemFS root,
// so "a/b", "/a/b" and "./a/b" name the same file; ".." cannot climb above
// the root. Op.Path, Snapshot and ReadFile use the form without a leading
// slash ("a/b", "." for the root). Permissions are recorded but not
// enforced; modification times are always the zero time.
//
// A MemFS is safe for concurrent use: one mutex serialises every
// operation, of the MemFS and of its files.
type MemFS struct {
	mu      sync.Mutex
	root    *node
	crashed bool

	ops    int64
	counts [len(opNames)]int64
	hook   Hook

	crashAt    int64 // -1: no crash point
	crashKinds []OpKind
	crashSeen  int64

	capacity int64 // -1: unlimited
	used     int64 // bytes of the files the volatile tree names
}

// NewMem returns an empty MemFS holding only its root directory, which is
// durable. It has no hook, no crash point and no capacity limit.
func NewMem() *MemFS {
	return &MemFS{root: newDir(0o755), crashAt: -1, capacity: -1}
}

// SetHook makes h run before every counted operation (see OpKind), with
// the MemFS locked: h must not call the MemFS or its files. A nil h
// removes the hook.
func (m *MemFS) SetHook(h Hook) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.hook = h
}

// SetCapacity limits the total size of the files the MemFS names to
// capacity bytes: a write or truncate that would grow the total past it
// fails with an error matching syscall.ENOSPC and changes nothing. A
// negative capacity removes the limit. Lowering it below the current usage
// fails only later growth.
func (m *MemFS) SetCapacity(capacity int64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.capacity = max(capacity, -1)
}

// Used returns the total size of the files the MemFS names, the figure
// SetCapacity limits.
func (m *MemFS) Used() int64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.used
}

// Ops returns how many operations the MemFS has counted since it was made,
// of every kind, including those that failed. A test runs a workload once
// on a fresh MemFS, reads Ops, then replays it with CrashAt(n) for every n
// below it.
func (m *MemFS) Ops() int64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.ops
}

// OpCount returns how many operations of the given kinds (of every kind
// when none are given) the MemFS has counted since it was made.
func (m *MemFS) OpCount(kinds ...OpKind) int64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	if len(kinds) == 0 {
		return m.ops
	}
	var total int64
	for _, k := range slices.Compact(slices.Sorted(slices.Values(kinds))) {
		if int(k) < len(m.counts) {
			total += m.counts[k]
		}
	}
	return total
}

// begin counts an operation and runs the crash point and the hook; a
// non-nil result fails the operation. The caller holds m.mu.
func (m *MemFS) begin(kind OpKind, p, np string) error {
	if m.crashed {
		return ErrCrashed
	}
	op := Op{Kind: kind, Path: p, NewPath: np, Index: m.ops}
	m.ops++
	m.counts[kind]++
	if m.crashAt >= 0 && matches(kind, m.crashKinds) {
		if m.crashSeen == m.crashAt {
			m.crashed = true
			return errCrashPoint
		}
		m.crashSeen++
	}
	if m.hook != nil {
		return m.hook(op)
	}
	return nil
}

// live fails with ErrCrashed once the MemFS crashed. The caller holds m.mu.
func (m *MemFS) live() error {
	if m.crashed {
		return ErrCrashed
	}
	return nil
}

// errCrashPoint is what begin returns for the operation that hits the
// crash point: it is ErrCrashed to every caller but the File methods that
// let the interrupted write reach the volatile state.
var errCrashPoint = fmt.Errorf("%w at this operation", ErrCrashed)

func pathErr(op, name string, err error) error {
	return &fs.PathError{Op: op, Path: name, Err: err}
}

// Create creates or truncates name and opens it read-write. It counts as
// OpCreate.
func (m *MemFS) Create(name string) (File, error) {
	return m.OpenFile(name, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o666)
}

// Open opens name read-only. It counts as OpOpen.
func (m *MemFS) Open(name string) (File, error) {
	return m.OpenFile(name, os.O_RDONLY, 0)
}

// OpenFile opens name as os.OpenFile does. It counts as OpCreate when flag
// holds O_CREATE or O_TRUNC, as OpOpen otherwise.
func (m *MemFS) OpenFile(name string, flag int, perm fs.FileMode) (File, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	p, ok := cleanPath(name)
	kind := OpOpen
	if flag&(os.O_CREATE|os.O_TRUNC) != 0 {
		kind = OpCreate
	}
	if err := m.begin(kind, p, ""); err != nil {
		return nil, pathErr("open", name, err)
	}
	if !ok {
		return nil, pathErr("open", name, syscall.ENOENT)
	}
	access := flag & (os.O_RDONLY | os.O_WRONLY | os.O_RDWR)
	n, err := m.walk(p)
	switch {
	case errors.Is(err, syscall.ENOENT) && flag&os.O_CREATE != 0:
		parent, base, perr := m.walkParent(p)
		if perr != nil {
			return nil, pathErr("open", name, perr)
		}
		n = newFile(perm)
		n.linked = true
		parent.entries[base] = n
	case err != nil:
		return nil, pathErr("open", name, err)
	case flag&(os.O_CREATE|os.O_EXCL) == os.O_CREATE|os.O_EXCL:
		return nil, pathErr("open", name, syscall.EEXIST)
	case n.dir && (access != os.O_RDONLY || flag&(os.O_CREATE|os.O_TRUNC) != 0):
		return nil, pathErr("open", name, syscall.EISDIR)
	case flag&os.O_TRUNC != 0:
		m.resize(n, 0)
	}
	return &memFile{
		m:      m,
		n:      n,
		name:   name,
		path:   p,
		read:   access != os.O_WRONLY,
		write:  access != os.O_RDONLY,
		append: flag&os.O_APPEND != 0,
	}, nil
}

// resize changes a file's size, keeping the capacity count. The caller has
// checked the capacity.
func (m *MemFS) resize(n *node, size int64) {
	old := int64(len(n.data))
	n.resize(size)
	if n.linked {
		m.used += size - old
	}
}

// MaxMemFileSize is the largest file a MemFS holds: writing or truncating
// past it fails with an error matching syscall.EFBIG instead of trying to
// allocate the memory, so that a wild offset in the code under test fails
// cleanly.
const MaxMemFileSize = 1 << 32

// room fails with EFBIG when size passes MaxMemFileSize and with ENOSPC
// when growing n to size would pass the capacity.
func (m *MemFS) room(n *node, size int64) error {
	if size > MaxMemFileSize || size < 0 {
		return syscall.EFBIG
	}
	grow := size - int64(len(n.data))
	if n.linked && grow > 0 && m.capacity >= 0 && m.used+grow > m.capacity {
		return syscall.ENOSPC
	}
	return nil
}

// Remove removes a file or an empty directory. It counts as OpRemove.
func (m *MemFS) Remove(name string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	p, ok := cleanPath(name)
	if err := m.begin(OpRemove, p, ""); err != nil {
		return pathErr("remove", name, err)
	}
	if !ok {
		return pathErr("remove", name, syscall.ENOENT)
	}
	parent, base, err := m.walkParent(p)
	if err != nil {
		return pathErr("remove", name, err)
	}
	n, found := parent.entries[base]
	switch {
	case !found:
		return pathErr("remove", name, syscall.ENOENT)
	case n.dir && len(n.entries) > 0:
		return pathErr("remove", name, syscall.ENOTEMPTY)
	}
	delete(parent.entries, base)
	m.unlink(n)
	return nil
}

// RemoveAll removes name and everything below it; a missing name is not an
// error. It counts as one OpRemove.
func (m *MemFS) RemoveAll(name string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	p, ok := cleanPath(name)
	if err := m.begin(OpRemove, p, ""); err != nil {
		return pathErr("RemoveAll", name, err)
	}
	if !ok {
		return nil
	}
	parent, base, err := m.walkParent(p)
	switch {
	case errors.Is(err, syscall.ENOENT):
		return nil
	case err != nil:
		return pathErr("RemoveAll", name, err)
	}
	n, found := parent.entries[base]
	if !found {
		return nil
	}
	delete(parent.entries, base)
	m.removeTree(n)
	return nil
}

// removeTree empties a detached directory tree, as deleting its entries one
// by one would.
func (m *MemFS) removeTree(n *node) {
	m.unlink(n)
	if n.dir {
		for _, c := range n.entries {
			m.removeTree(c)
		}
		clear(n.entries)
	}
}

// Rename moves oldpath to newpath, replacing a file there, as os.Rename
// does. It counts as OpRename.
func (m *MemFS) Rename(oldpath, newpath string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	op, okOld := cleanPath(oldpath)
	np, okNew := cleanPath(newpath)
	fail := func(err error) error {
		return &os.LinkError{Op: "rename", Old: oldpath, New: newpath, Err: err}
	}
	if err := m.begin(OpRename, op, np); err != nil {
		return fail(err)
	}
	if !okOld || !okNew {
		return fail(syscall.ENOENT)
	}
	// The checks run in the order os.Rename and Linux run them, so that
	// the error for a doubly bad rename is the same: os.Rename refuses an
	// existing directory as target before calling rename(2), which then
	// resolves both parents, the source, and checks the tree and types.
	if t, err := m.walk(np); err == nil && t.dir {
		if _, err := m.walk(op); err != nil {
			return fail(err)
		}
		return fail(syscall.EEXIST)
	}
	oparent, obase, err := m.walkParent(op)
	if err != nil {
		return fail(err)
	}
	nparent, nbase, err := m.walkParent(np)
	if err != nil {
		return fail(err)
	}
	n, found := oparent.entries[obase]
	if !found {
		return fail(syscall.ENOENT)
	}
	if n.dir && strings.HasPrefix(np, op+"/") {
		return fail(syscall.EINVAL)
	}
	target, exists := nparent.entries[nbase]
	switch {
	case target == n:
		return nil
	case exists && n.dir:
		return fail(syscall.ENOTDIR)
	}
	if exists {
		m.unlink(target)
	}
	delete(oparent.entries, obase)
	nparent.entries[nbase] = n
	return nil
}

// MkdirAll creates dir and its missing parents. It counts as one OpMkdir.
func (m *MemFS) MkdirAll(dir string, perm fs.FileMode) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	p, ok := cleanPath(dir)
	if err := m.begin(OpMkdir, p, ""); err != nil {
		return pathErr("mkdir", dir, err)
	}
	if !ok {
		return pathErr("mkdir", dir, syscall.ENOENT)
	}
	if p == "." {
		return nil
	}
	n := m.root
	for _, part := range strings.Split(p, "/") {
		next, found := n.entries[part]
		switch {
		case !found:
			next = newDir(perm)
			n.entries[part] = next
		case !next.dir:
			return pathErr("mkdir", dir, syscall.ENOTDIR)
		}
		n = next
	}
	return nil
}

// ReadDir lists dir sorted by name. It counts as OpRead.
func (m *MemFS) ReadDir(dir string) ([]fs.DirEntry, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	p, ok := cleanPath(dir)
	if err := m.begin(OpRead, p, ""); err != nil {
		return nil, pathErr("open", dir, err)
	}
	if !ok {
		return nil, pathErr("open", dir, syscall.ENOENT)
	}
	n, err := m.walk(p)
	switch {
	case err != nil:
		return nil, pathErr("open", dir, err)
	case !n.dir:
		return nil, pathErr("readdirent", dir, syscall.ENOTDIR)
	}
	list := make([]fs.DirEntry, 0, len(n.entries))
	for _, name := range slices.Sorted(maps.Keys(n.entries)) {
		list = append(list, n.entries[name].info(name).(*memInfo))
	}
	return list, nil
}

// Stat describes name. It is not counted and not hooked, but fails with
// ErrCrashed after a crash.
func (m *MemFS) Stat(name string) (fs.FileInfo, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.live(); err != nil {
		return nil, pathErr("stat", name, err)
	}
	p, ok := cleanPath(name)
	if !ok {
		return nil, pathErr("stat", name, syscall.ENOENT)
	}
	n, err := m.walk(p)
	if err != nil {
		return nil, pathErr("stat", name, err)
	}
	return n.info(path.Base(p)), nil
}

// SyncDir makes dir's current entries its durable ones. It counts as
// OpSyncDir.
func (m *MemFS) SyncDir(dir string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	p, ok := cleanPath(dir)
	if err := m.begin(OpSyncDir, p, ""); err != nil {
		return pathErr("sync", dir, err)
	}
	if !ok {
		return pathErr("sync", dir, syscall.ENOENT)
	}
	n, err := m.walk(p)
	switch {
	case err != nil:
		return pathErr("sync", dir, err)
	case !n.dir:
		return pathErr("sync", dir, syscall.ENOTDIR)
	}
	n.durable = maps.Clone(n.entries)
	return nil
}

var (
	_ FS   = (*MemFS)(nil)
	_ File = (*memFile)(nil)
)
