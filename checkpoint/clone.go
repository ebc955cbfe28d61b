package checkpoint

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/blockrep/blockrep/checkpoint/vfs"
	"github.com/blockrep/blockrep/delta"
)

// dirClone is a copy-on-write clone of a point: per volume, a sparse
// overlay file the size of the volume and a bitmap of the blocks written
// to it. Reads of a block not in the bitmap come from the point's view.
// Creating one costs a pin commit and one truncate per volume, whatever the
// volume size.
type dirClone struct {
	g    *dirGroup
	name string
	dir  string
	view *pointView

	mu        sync.RWMutex
	files     []vfs.File
	written   []*delta.Set
	vols      []VolumeReadWriter
	discarded bool
	buf       []byte

	syncMu sync.Mutex  // serialises Syncs
	dirty  atomic.Bool // written since the last Sync
}

type cloneVolume struct {
	c    *dirClone
	vol  int
	size int64
	id   string
}

func cloneHolder(name string) string { return "clone:" + name }

// Clone implements Group.
func (g *dirGroup) Clone(ctx context.Context, id delta.PointID, name string) (Clone, error) {
	if !safeName(name) {
		return nil, fmt.Errorf("%w: clone name %q", ErrInvalidName, name)
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	g.opMu.Lock()
	defer g.opMu.Unlock()
	if err := g.usable(); err != nil {
		return nil, err
	}
	dir := g.path(path.Join("clones", name))
	if _, ok := g.clones[name]; ok {
		return nil, fmt.Errorf("%w: %q", ErrCloneExists, name)
	}
	if ok, err := exists(g.fsys, dir); err != nil {
		return nil, err
	} else if ok {
		return nil, fmt.Errorf("%w: %q (left by an earlier process: OpenClone or DiscardClone it)", ErrCloneExists, name)
	}
	if g.man.index(id) < 0 {
		return nil, fmt.Errorf("%w: %s", ErrUnknownPoint, id)
	}
	c := &dirClone{g: g, name: name, dir: dir, buf: make([]byte, g.man.Spec.BlockSize)}
	if err := c.create(id); err != nil {
		c.closeFiles()
		g.fsys.RemoveAll(dir)
		return nil, fmt.Errorf("checkpoint: clone %q: %w", name, err)
	}
	// The durable pin keeps the point through a restart until the clone
	// is discarded.
	if err := g.pinLocked(id, cloneHolder(name)); err != nil {
		c.closeFiles()
		g.fsys.RemoveAll(dir)
		return nil, err
	}
	g.mu.Lock()
	v, err := g.openViewLocked(id)
	if err == nil {
		c.view = v
		g.clones[name] = c
	}
	g.mu.Unlock()
	if err != nil {
		c.closeFiles()
		return nil, err
	}
	c.makeVolumes()
	return c, nil
}

func (c *dirClone) makeVolumes() {
	for i, vi := range c.g.man.Spec.Volumes {
		c.vols = append(c.vols, &cloneVolume{c: c, vol: i, size: vi.Size, id: vi.ID})
	}
}

// create makes the clone's directory: one sparse overlay per volume, synced
// at its full size, then the state file naming point id with nothing
// written, so that a clone whose pin commits can always be reopened.
func (c *dirClone) create(id delta.PointID) error {
	g := c.g
	if err := g.fsys.MkdirAll(c.dir, 0o755); err != nil {
		return err
	}
	if err := g.fsys.SyncDir(path.Dir(c.dir)); err != nil {
		return err
	}
	for i, geo := range g.geoms {
		f, err := g.fsys.Create(path.Join(c.dir, volumeName(i)))
		if err != nil {
			return err
		}
		c.files = append(c.files, f)
		if err := f.Truncate(geo.Size); err != nil {
			return err
		}
		if err := f.Sync(); err != nil {
			return err
		}
		c.written = append(c.written, delta.NewSet(geo.Blocks()))
	}
	return c.writeState(id, c.written)
}

// writeState replaces the clone's state file with point id and written.
func (c *dirClone) writeState(id delta.PointID, written []*delta.Set) error {
	b, err := encodeCloneState(cloneState{Point: id, Written: written})
	if err != nil {
		return err
	}
	return writeFileAtomic(c.g.fsys, c.dir, cloneStateName, b)
}

// Sync implements Clone: the overlays are fsynced, then the state file
// records the blocks written so far. Writes wait while it runs; reads do
// not.
func (c *dirClone) Sync() error {
	c.syncMu.Lock()
	defer c.syncMu.Unlock()
	c.mu.RLock()
	defer c.mu.RUnlock()
	if c.discarded {
		return ErrClosed
	}
	c.g.mu.RLock()
	closed := c.g.closed
	c.g.mu.RUnlock()
	if closed {
		return ErrClosed
	}
	if !c.dirty.Load() {
		return nil
	}
	for i, f := range c.files {
		if err := f.Sync(); err != nil {
			return fmt.Errorf("checkpoint: sync clone %q volume %d: %w", c.name, i, err)
		}
	}
	if err := c.writeState(c.view.pt.ID, c.written); err != nil {
		return fmt.Errorf("checkpoint: sync clone %q: %w", c.name, err)
	}
	c.dirty.Store(false)
	return nil
}

// WrittenBlocks implements Clone.
func (c *dirClone) WrittenBlocks() []*delta.Set {
	c.mu.RLock()
	defer c.mu.RUnlock()
	out := make([]*delta.Set, len(c.written))
	for i, s := range c.written {
		out[i] = s.Clone()
	}
	return out
}

func (c *dirClone) closeFiles() {
	for _, f := range c.files {
		f.Close()
	}
	c.files = nil
}

func (c *dirClone) Name() string                { return c.name }
func (c *dirClone) Point() Point                { return c.view.pt }
func (c *dirClone) Volumes() []VolumeReadWriter { return c.vols }

// Discard implements Clone.
func (c *dirClone) Discard(ctx context.Context) error {
	c.mu.Lock()
	if c.discarded {
		c.mu.Unlock()
		return nil
	}
	c.discarded = true
	c.closeFiles()
	c.mu.Unlock()
	return c.g.discardClone(ctx, c.name, c)
}

// Clones implements Group.
func (g *dirGroup) Clones(ctx context.Context) ([]string, error) {
	if err := g.usable(); err != nil {
		return nil, err
	}
	return listNames(g.fsys, g.path("clones"))
}

// DiscardClone implements Group.
func (g *dirGroup) DiscardClone(ctx context.Context, name string) error {
	if !safeName(name) {
		return fmt.Errorf("%w: clone name %q", ErrInvalidName, name)
	}
	g.mu.RLock()
	c := g.clones[name]
	g.mu.RUnlock()
	if c != nil {
		return c.Discard(ctx)
	}
	if ok, err := exists(g.fsys, g.path(path.Join("clones", name))); err != nil {
		return err
	} else if !ok && !g.hasHolder(cloneHolder(name)) {
		return fmt.Errorf("%w: %q", ErrUnknownClone, name)
	}
	return g.discardClone(ctx, name, nil)
}

func (g *dirGroup) hasHolder(holder string) bool {
	g.mu.RLock()
	defer g.mu.RUnlock()
	return slices.ContainsFunc(g.man.Pins, func(p Pin) bool { return p.Holder == holder })
}

// discardClone removes the overlay, then the pin, then prunes.
func (g *dirGroup) discardClone(ctx context.Context, name string, c *dirClone) error {
	g.opMu.Lock()
	defer g.opMu.Unlock()
	if c != nil {
		c.view.Close()
		g.mu.Lock()
		delete(g.clones, name)
		g.mu.Unlock()
	}
	if err := g.usable(); err != nil {
		return err
	}
	// Removing the state file first, durably, ends the clone at once: a
	// crash in what follows leaves a directory that OpenClone refuses and
	// DiscardClone finishes removing.
	dir := g.path(path.Join("clones", name))
	if err := removeIfExists(g.fsys, path.Join(dir, cloneStateName)); err != nil {
		return fmt.Errorf("checkpoint: discard clone %q: %w", name, err)
	}
	if ok, err := exists(g.fsys, dir); err != nil {
		return fmt.Errorf("checkpoint: discard clone %q: %w", name, err)
	} else if ok {
		if err := g.fsys.SyncDir(dir); err != nil {
			return fmt.Errorf("checkpoint: discard clone %q: %w", name, err)
		}
	}
	if err := g.fsys.RemoveAll(dir); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("checkpoint: discard clone %q: %w", name, err)
	}
	if err := g.fsys.SyncDir(path.Dir(dir)); err != nil {
		return fmt.Errorf("checkpoint: discard clone %q: %w", name, err)
	}
	for _, p := range slices.Clone(g.man.Pins) {
		if p.Holder == cloneHolder(name) {
			if err := g.releaseLocked(ctx, p.Point, p.Holder); err != nil {
				return err
			}
		}
	}
	_, err := g.pruneLocked(ctx)
	return err
}

func (cv *cloneVolume) Size() int64 { return cv.size }
func (cv *cloneVolume) ID() string  { return cv.id }

// ReadAt implements io.ReaderAt: written blocks from the overlay, the rest
// from the point.
func (cv *cloneVolume) ReadAt(p []byte, off int64) (int, error) {
	c := cv.c
	c.mu.RLock()
	defer c.mu.RUnlock()
	if c.discarded {
		return 0, ErrClosed
	}
	n, err := clampRange(len(p), off, cv.size)
	if err != nil || n == 0 {
		return 0, err
	}
	geo := c.g.geoms[cv.vol]
	bs := int64(geo.BlockSize)
	written := c.written[cv.vol]
	// Read runs of blocks that come from the same side at once.
	for pos := 0; pos < n; {
		abs := off + int64(pos)
		fromOverlay := written.Contains(abs / bs)
		end := pos
		for end < n && written.Contains((off+int64(end))/bs) == fromOverlay {
			b := (off + int64(end)) / bs
			end = int(min(int64(n), (b+1)*bs-off))
		}
		var err error
		if fromOverlay {
			err = readFull(c.files[cv.vol], p[pos:end], abs)
		} else {
			err = readFull(c.view.vols[cv.vol], p[pos:end], abs)
		}
		if err != nil {
			return pos, err
		}
		pos = end
	}
	if n < len(p) {
		return n, ioEOF
	}
	return n, nil
}

// WriteAt implements io.WriterAt. The first write to a block copies the
// block from the point into the overlay, unless it covers the whole block.
func (cv *cloneVolume) WriteAt(p []byte, off int64) (int, error) {
	c := cv.c
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.discarded {
		return 0, ErrClosed
	}
	if off < 0 || int64(len(p)) > cv.size-off {
		return 0, fmt.Errorf("checkpoint: clone write of %d bytes at %d outside a volume of %d", len(p), off, cv.size)
	}
	geo := c.g.geoms[cv.vol]
	f := c.files[cv.vol]
	for pos := 0; pos < len(p); {
		abs := off + int64(pos)
		b := geo.BlockOf(abs)
		boff, blen := geo.BlockBounds(b)
		lo := int(abs - boff)
		hi := min(blen, lo+len(p)-pos)
		if !c.written[cv.vol].Contains(b) && (lo > 0 || hi < blen) {
			blk := c.buf[:blen]
			if err := readFull(c.view.vols[cv.vol], blk, boff); err != nil {
				return pos, err
			}
			copy(blk[lo:hi], p[pos:])
			if _, err := f.WriteAt(blk, boff); err != nil {
				return pos, err
			}
		} else if _, err := f.WriteAt(p[pos:pos+hi-lo], abs); err != nil {
			return pos, err
		}
		c.written[cv.vol].Add(b)
		c.dirty.Store(true)
		pos += hi - lo
	}
	return len(p), nil
}
