package checkpoint

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"

	"github.com/blockrep/blockrep/delta"
)

// OpenClone implements Group: it returns the open clone of that name, or
// reopens one an earlier process left on disk, with the blocks its last
// Sync recorded.
func (g *dirGroup) OpenClone(ctx context.Context, name string) (Clone, error) {
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
	g.mu.RLock()
	open := g.clones[name]
	g.mu.RUnlock()
	if open != nil {
		return open, nil
	}
	dir := g.path(path.Join("clones", name))
	rel := path.Join("clones", name, cloneStateName)
	b, err := readFileLimited(g.fsys, path.Join(dir, cloneStateName), maxCloneStateSize(g.geoms))
	if errors.Is(err, fs.ErrNotExist) {
		if ok, serr := exists(g.fsys, dir); serr != nil {
			return nil, serr
		} else if ok {
			// Clone or Discard did not finish: nothing was handed out.
			return nil, fmt.Errorf("%w: %q is incomplete (its creation or removal was interrupted: DiscardClone it)", ErrUnknownClone, name)
		}
		return nil, fmt.Errorf("%w: %q", ErrUnknownClone, name)
	}
	if err != nil {
		return nil, damaged(g.id, rel, "unreadable", err)
	}
	st, err := decodeCloneState(b, g.geoms)
	if err != nil {
		return nil, damaged(g.id, rel, "malformed", err)
	}
	if !g.hasPin(st.Point, cloneHolder(name)) {
		if g.hasHolder(cloneHolder(name)) {
			return nil, damaged(g.id, rel, fmt.Sprintf("names point %s, the clone's pin holds another", st.Point), nil)
		}
		// The state file is written before the pin commits: Clone failed.
		return nil, fmt.Errorf("%w: %q is incomplete (its creation was interrupted: DiscardClone it)", ErrUnknownClone, name)
	}
	c := &dirClone{g: g, name: name, dir: dir, buf: make([]byte, g.man.Spec.BlockSize), written: st.Written}
	if err := c.openFiles(); err != nil {
		c.closeFiles()
		return nil, err
	}
	g.mu.Lock()
	v, err := g.openViewLocked(st.Point)
	if err == nil {
		c.view = v
		g.clones[name] = c
	}
	g.mu.Unlock()
	if err != nil {
		c.closeFiles()
		if errors.Is(err, ErrUnknownPoint) {
			return nil, damaged(g.id, rel, fmt.Sprintf("its pinned point %s is not in the chain", st.Point), err)
		}
		return nil, err
	}
	c.makeVolumes()
	return c, nil
}

// openFiles opens the overlays of a clone found on disk, checking that each
// has its volume's size.
func (c *dirClone) openFiles() error {
	g := c.g
	for i, geo := range g.geoms {
		name := path.Join(c.dir, volumeName(i))
		rel := path.Join("clones", c.name, volumeName(i))
		f, err := g.fsys.OpenFile(name, os.O_RDWR, 0)
		if err != nil {
			return damaged(g.id, rel, "cannot open overlay", err)
		}
		c.files = append(c.files, f)
		fi, err := f.Stat()
		if err != nil {
			return damaged(g.id, rel, "cannot stat overlay", err)
		}
		if fi.Size() != geo.Size {
			return damaged(g.id, rel, fmt.Sprintf("overlay is %d bytes, want %d", fi.Size(), geo.Size), nil)
		}
	}
	return nil
}

// hasPin reports whether holder pins point id.
func (g *dirGroup) hasPin(id delta.PointID, holder string) bool {
	g.mu.RLock()
	defer g.mu.RUnlock()
	for _, p := range g.man.Pins {
		if p.Point == id && p.Holder == holder {
			return true
		}
	}
	return false
}
