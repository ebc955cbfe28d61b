package checkpoint

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"slices"
	"sync"

	"github.com/blockrep/blockrep/checkpoint/vfs"
	"github.com/blockrep/blockrep/delta"
)

// Directory layout of a DirStore:
//
//	<root>/groups/<id>/manifest.json    committed state (points, pins, file names)
//	<root>/groups/<id>/intent.json      a rollback in progress
//	<root>/groups/<id>/vol-<i>.img      live volume i, always at the latest point
//	<root>/groups/<id>/hashes-<n>.bin   block hash lists of the live volumes...
//	<root>/groups/<id>/hashlog-<n>.bin  ...and the journal of their changes
//	<root>/groups/<id>/undo/<n>.undo    undo logs, one per older point
//	<root>/groups/<id>/staging/         the verified records of the delta being applied
//	<root>/groups/<id>/clones/<name>/   copy-on-write clones
//	<root>/tmp/                         groups being created
const (
	groupsDir = "groups"
	tmpDir    = "tmp"
)

// DirStore is a Store kept in a directory of a vfs.FS. One DirStore, in
// one process, owns a root at a time.
type DirStore struct {
	fsys vfs.FS
	root string
	opts options

	mu     sync.Mutex
	groups map[string]*dirGroup
	closed bool

	// Buffers applies reuse: staged records, undo records, batch arenas.
	stageBuf, undoBuf bufSlot
	arenaBuf          [2]bufSlot
}

var _ Store = (*DirStore)(nil)

// Open opens (creating if needed) a store rooted at root. It does not open
// any group: Group does, recovering it first.
func Open(fsys vfs.FS, root string, opts ...Option) (*DirStore, error) {
	o := defaultOptions()
	for _, opt := range opts {
		if err := opt(&o); err != nil {
			return nil, err
		}
	}
	if err := fsys.MkdirAll(path.Join(root, groupsDir), 0o755); err != nil {
		return nil, fmt.Errorf("checkpoint: open store: %w", err)
	}
	// Half-created groups are garbage: their creation never renamed them in.
	if err := fsys.RemoveAll(path.Join(root, tmpDir)); err != nil {
		return nil, fmt.Errorf("checkpoint: open store: %w", err)
	}
	if err := fsys.MkdirAll(path.Join(root, tmpDir), 0o755); err != nil {
		return nil, fmt.Errorf("checkpoint: open store: %w", err)
	}
	// Make the store's own directories durable, so a group created in
	// them survives a crash.
	for _, dir := range []string{path.Dir(path.Clean(root)), root} {
		if err := fsys.SyncDir(dir); err != nil {
			return nil, fmt.Errorf("checkpoint: open store: %w", err)
		}
	}
	return &DirStore{fsys: fsys, root: root, opts: o, groups: make(map[string]*dirGroup)}, nil
}

func (s *DirStore) groupDir(id string) string { return path.Join(s.root, groupsDir, id) }

// CreateGroup implements Store.
func (s *DirStore) CreateGroup(ctx context.Context, id string, spec GroupSpec) (Group, error) {
	if err := ValidGroupID(id); err != nil {
		return nil, err
	}
	spec.Volumes = slices.Clone(spec.Volumes)
	spec.Meta = slices.Clone(spec.Meta)
	if err := spec.validate(); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, ErrClosed
	}
	dir := s.groupDir(id)
	if ok, err := exists(s.fsys, dir); err != nil {
		return nil, fmt.Errorf("checkpoint: create group %q: %w", id, err)
	} else if ok {
		return nil, fmt.Errorf("%w: %q", ErrGroupExists, id)
	}
	tmp := path.Join(s.root, tmpDir, id)
	if err := s.buildGroup(tmp, id, spec); err != nil {
		s.fsys.RemoveAll(tmp)
		return nil, fmt.Errorf("checkpoint: create group %q: %w", id, err)
	}
	// The rename publishes the complete group at once: a group directory
	// always has its manifest, so a missing one is damage, not a crash.
	if err := s.fsys.Rename(tmp, dir); err != nil {
		s.fsys.RemoveAll(tmp)
		return nil, fmt.Errorf("checkpoint: create group %q: %w", id, err)
	}
	if err := s.fsys.SyncDir(path.Join(s.root, groupsDir)); err != nil {
		return nil, fmt.Errorf("checkpoint: create group %q: %w", id, err)
	}
	g, err := openGroup(ctx, s, id)
	if err != nil {
		return nil, err
	}
	s.groups[id] = g
	return g, nil
}

func (s *DirStore) buildGroup(dir, id string, spec GroupSpec) error {
	if err := s.fsys.RemoveAll(dir); err != nil {
		return err
	}
	for _, sub := range []string{"undo", "staging", "clones"} {
		if err := s.fsys.MkdirAll(path.Join(dir, sub), 0o755); err != nil {
			return err
		}
	}
	geoms := spec.Geometries()
	lists := make([]*delta.HashList, len(geoms))
	for i, g := range geoms {
		f, err := s.fsys.Create(path.Join(dir, volumeName(i)))
		if err != nil {
			return err
		}
		// A sparse, zero-filled volume: the state before the first point.
		err = f.Truncate(g.Size)
		if err == nil {
			err = f.Sync()
		}
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return err
		}
		if lists[i], err = zeroHashList(g); err != nil {
			return err
		}
	}
	m := &manifest{Group: id, Spec: spec, Retention: spec.Retention, Created: s.opts.now().UTC()}
	m.Hashes = m.newFile("hashes-", ".bin")
	hb, err := encodeHashes(lists)
	if err != nil {
		return err
	}
	if err := writeFileAtomic(s.fsys, dir, m.Hashes, hb); err != nil {
		return err
	}
	m.HashLog = m.newFile("hashlog-", ".bin")
	m.HashLogSize = int64(len(hashLogMagic))
	if err := writeFileAtomic(s.fsys, dir, m.HashLog, []byte(hashLogMagic)); err != nil {
		return err
	}
	mb, err := m.encode()
	if err != nil {
		return err
	}
	return writeFileAtomic(s.fsys, dir, manifestName, mb)
}

// zeroHashList returns the hash list of a zero-filled volume.
func zeroHashList(g delta.Geometry) (*delta.HashList, error) {
	l, err := delta.NewHashList(g)
	if err != nil {
		return nil, err
	}
	zero := make([]byte, g.BlockSize)
	full := delta.HashBlock(zero)
	for i := range g.Blocks() {
		_, n := g.BlockBounds(i)
		if n == g.BlockSize {
			l.Set(i, full)
		} else {
			l.Set(i, delta.HashBlock(zero[:n]))
		}
	}
	return l, nil
}

func volumeName(i int) string { return fmt.Sprintf("vol-%03d.img", i) }

// Group implements Store.
func (s *DirStore) Group(ctx context.Context, id string) (Group, error) {
	g, err := s.group(ctx, id)
	if err != nil {
		return nil, err
	}
	return g, nil
}

func (s *DirStore) group(ctx context.Context, id string) (*dirGroup, error) {
	if err := ValidGroupID(id); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, ErrClosed
	}
	if g, ok := s.groups[id]; ok {
		return g, nil
	}
	if ok, err := exists(s.fsys, s.groupDir(id)); err != nil {
		return nil, fmt.Errorf("checkpoint: group %q: %w", id, err)
	} else if !ok {
		return nil, fmt.Errorf("%w: %q", ErrUnknownGroup, id)
	}
	g, err := openGroup(ctx, s, id)
	if err != nil {
		return nil, err
	}
	s.groups[id] = g
	return g, nil
}

// Groups implements Store.
func (s *DirStore) Groups(ctx context.Context) ([]string, error) {
	s.mu.Lock()
	closed := s.closed
	s.mu.Unlock()
	if closed {
		return nil, ErrClosed
	}
	ids, err := listNames(s.fsys, path.Join(s.root, groupsDir))
	if err != nil {
		return nil, fmt.Errorf("checkpoint: list groups: %w", err)
	}
	return ids, nil
}

// RemoveGroup implements Store.
func (s *DirStore) RemoveGroup(ctx context.Context, id string) error {
	g, err := s.group(ctx, id)
	var de *DamagedError
	switch {
	case errors.As(err, &de):
		// A damaged group can still be removed.
	case err != nil:
		return err
	default:
		if err := g.closeForRemove(); err != nil {
			return err
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.groups, id)
	if err := s.fsys.RemoveAll(s.groupDir(id)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("checkpoint: remove group %q: %w", id, err)
	}
	return s.fsys.SyncDir(path.Join(s.root, groupsDir))
}

// Close implements Store.
func (s *DirStore) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	var errs []error
	for _, g := range s.groups {
		errs = append(errs, g.close())
	}
	s.groups = nil
	s.stageBuf.drop()
	s.undoBuf.drop()
	for i := range s.arenaBuf {
		s.arenaBuf[i].drop()
	}
	return errors.Join(errs...)
}
