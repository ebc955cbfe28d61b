package vfs

import (
	"maps"
	"math/rand/v2"
	"slices"
	"syscall"
)

// CrashAt sets a crash point: counting from this call, the n-th operation
// (from 0) whose kind is one of kinds, or of any kind when kinds is empty,
// fails with ErrCrashed and crashes the MemFS, so that it and every later
// operation fail with ErrCrashed. The test then calls Crash to get what
// survived. A negative n removes the crash point.
//
// A write or truncate that hits the crash point still reaches the volatile
// state, as a write cut by power loss may have reached the page cache:
// Crash drops it with the rest of the volatile state, CrashRandom may keep
// any of its pages, which models a torn write. Every other operation that
// hits the crash point has no effect.
func (m *MemFS) CrashAt(n int64, kinds ...OpKind) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.crashAt = max(n, -1)
	m.crashKinds = slices.Clone(kinds)
	m.crashSeen = 0
}

// Crashed reports whether the MemFS crashed, by Crash, CrashRandom or a
// crash point.
func (m *MemFS) Crashed() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.crashed
}

// Crash simulates a power loss: it marks m crashed, so that every later
// operation of m and of the files it opened fails with ErrCrashed, and
// returns a new MemFS holding only m's durable state, as a reboot would
// find it: every file with its content as of its last Sync, named by the
// entries its directories had at their last SyncDir. The new MemFS has
// m's capacity, no hook, no crash point and an operation count of zero.
// Crash may be called again on the crashed m and returns the same state.
func (m *MemFS) Crash() *MemFS {
	return m.crash(nil)
}

// CrashRandom is Crash for a more pessimistic disk, one that may have
// written back some of what was never synced: each directory whose entries
// changed since its last SyncDir comes back with either its durable or its
// current entries, and each file changed since its last Sync comes back
// with either its synced or its current size, and each 4 KiB page changed
// since then with either its synced or its current bytes (zeros past the
// end of either). The choices are drawn from a generator seeded with seed,
// so one seed always gives the same result.
func (m *MemFS) CrashRandom(seed uint64) *MemFS {
	return m.crash(rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)))
}

func (m *MemFS) crash(rng *rand.Rand) *MemFS {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.crashed = true
	out := &MemFS{crashAt: -1, capacity: m.capacity}
	out.root = out.restore(m.root, rng, map[*node]bool{m.root: true})
	return out
}

// restore builds the directory src as it comes back after a crash. A node
// that two surviving entries name (which the model allows when a rename
// between directories was synced in one of them only) comes back under the
// first of them in depth-first name order, so the result is always a tree.
func (m *MemFS) restore(src *node, rng *rand.Rand, seen map[*node]bool) *node {
	dir := newDir(src.perm)
	listing := src.durable
	if rng != nil && !maps.Equal(src.entries, src.durable) && rng.IntN(2) == 1 {
		listing = src.entries
	}
	for _, name := range slices.Sorted(maps.Keys(listing)) {
		c := listing[name]
		if seen[c] {
			continue
		}
		seen[c] = true
		var r *node
		if c.dir {
			r = m.restore(c, rng, seen)
		} else {
			r = newFile(c.perm)
			r.data = recoverData(c, rng)
			r.synced = slices.Clone(r.data)
			r.linked = true
			m.used += int64(len(r.data))
		}
		dir.entries[name] = r
		dir.durable[name] = r
	}
	return dir
}

// recoverData returns the content a crash leaves in file n.
func recoverData(n *node, rng *rand.Rand) []byte {
	if rng == nil || (!n.isDirty() && len(n.data) == len(n.synced)) {
		return slices.Clone(n.synced)
	}
	size := len(n.synced)
	if rng.IntN(2) == 1 {
		size = len(n.data)
	}
	out := make([]byte, size)
	copy(out, n.synced)
	n.dirtyPages(func(p int64) {
		from := p * pageSize
		if from >= int64(size) || rng.IntN(2) == 0 {
			return
		}
		page := out[from:min(from+pageSize, int64(size))]
		clear(page)
		if from < int64(len(n.data)) {
			copy(page, n.data[from:])
		}
	})
	return out
}

// Clone returns an independent deep copy of m, durable and volatile state
// alike, so that a test can crash the copy and keep using m. The copy has
// m's capacity, no open files, no hook, no crash point, an operation count
// of zero, and is not crashed even if m is.
func (m *MemFS) Clone() *MemFS {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := &MemFS{crashAt: -1, capacity: m.capacity, used: m.used}
	out.root = cloneNode(m.root, map[*node]*node{})
	return out
}

// cloneNode copies n and everything it reaches, keeping shared nodes
// shared.
func cloneNode(n *node, done map[*node]*node) *node {
	if c, ok := done[n]; ok {
		return c
	}
	c := &node{dir: n.dir, perm: n.perm, linked: n.linked}
	done[n] = c
	if !n.dir {
		c.data = slices.Clone(n.data)
		c.synced = slices.Clone(n.synced)
		c.dirty = slices.Clone(n.dirty)
		return c
	}
	c.entries = make(map[string]*node, len(n.entries))
	for name, e := range n.entries {
		c.entries[name] = cloneNode(e, done)
	}
	c.durable = make(map[string]*node, len(n.durable))
	for name, e := range n.durable {
		c.durable[name] = cloneNode(e, done)
	}
	return c
}

// Snapshot returns the current content of every file, keyed by its name
// in the MemFS form ("a/b"). It is meant for assertions: it is not
// counted, not hooked and works after a crash (returning the state at the
// crash). Crash().Snapshot() gives the durable state.
func (m *MemFS) Snapshot() map[string][]byte {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := map[string][]byte{}
	var walk func(prefix string, n *node)
	walk = func(prefix string, n *node) {
		for name, c := range n.entries {
			if c.dir {
				walk(prefix+name+"/", c)
			} else {
				out[prefix+name] = slices.Clone(c.data)
			}
		}
	}
	walk("", m.root)
	return out
}

// ReadFile returns the current content of file name, like os.ReadFile but
// for assertions: it is not counted, not hooked and works after a crash
// (reading the state at the crash).
func (m *MemFS) ReadFile(name string) ([]byte, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	p, ok := cleanPath(name)
	if !ok {
		return nil, pathErr("open", name, syscall.ENOENT)
	}
	n, err := m.walk(p)
	switch {
	case err != nil:
		return nil, pathErr("open", name, err)
	case n.dir:
		return nil, pathErr("read", name, syscall.EISDIR)
	}
	return slices.Clone(n.data), nil
}
