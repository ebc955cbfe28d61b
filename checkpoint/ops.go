package checkpoint

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/blockrep/blockrep/delta"
)

// ID implements Group.
func (g *dirGroup) ID() string { return g.id }

// Spec implements Group.
func (g *dirGroup) Spec() GroupSpec {
	g.mu.RLock()
	defer g.mu.RUnlock()
	s := g.man.Spec
	s.Volumes = slices.Clone(s.Volumes)
	s.Meta = slices.Clone(s.Meta)
	s.Retention = g.man.Retention
	return s
}

// Recovered implements Group.
func (g *dirGroup) Recovered() Recovery { return g.recovered }

// Points implements Group. The block sets are shared: do not modify them.
func (g *dirGroup) Points(ctx context.Context) ([]Point, error) {
	g.mu.RLock()
	defer g.mu.RUnlock()
	if err := g.usableLocked(); err != nil {
		return nil, err
	}
	out := make([]Point, len(g.man.Points))
	for i, p := range g.man.Points {
		out[i] = p.Point
	}
	return out, nil
}

// Latest implements Group.
func (g *dirGroup) Latest(ctx context.Context) (Point, error) {
	g.mu.RLock()
	defer g.mu.RUnlock()
	if err := g.usableLocked(); err != nil {
		return Point{}, err
	}
	if l := g.man.latest(); l != nil {
		return l.Point, nil
	}
	return Point{}, ErrNoPoint
}

// ChangedBlocks implements Group. The difference between two points is
// symmetric, so from may also be the newer one.
func (g *dirGroup) ChangedBlocks(ctx context.Context, from, to delta.PointID) ([]*delta.Set, error) {
	g.mu.RLock()
	defer g.mu.RUnlock()
	if err := g.usableLocked(); err != nil {
		return nil, err
	}
	j := g.man.index(to)
	if j < 0 {
		return nil, fmt.Errorf("%w: %s", ErrUnknownPoint, to)
	}
	out := make([]*delta.Set, len(g.geoms))
	for v, geo := range g.geoms {
		out[v] = delta.NewSet(geo.Blocks())
	}
	if from.IsZero() {
		for v, geo := range g.geoms {
			out[v].AddRange(0, geo.Blocks())
		}
		return out, nil
	}
	i := g.man.index(from)
	if i < 0 {
		return nil, fmt.Errorf("%w: %s", ErrUnknownPoint, from)
	}
	if i > j {
		i, j = j, i
	}
	for k := i + 1; k <= j; k++ {
		for v, s := range g.man.Points[k].Changed {
			if err := out[v].Union(s); err != nil {
				return nil, err
			}
		}
	}
	return out, nil
}

// Pin implements Group.
func (g *dirGroup) Pin(ctx context.Context, id delta.PointID, holder string) error {
	if !validHolder(holder) {
		return fmt.Errorf("%w: holder %q", ErrInvalidName, holder)
	}
	g.opMu.Lock()
	defer g.opMu.Unlock()
	return g.pinLocked(id, holder)
}

func (g *dirGroup) pinLocked(id delta.PointID, holder string) error {
	if err := g.usable(); err != nil {
		return err
	}
	if g.man.index(id) < 0 {
		return fmt.Errorf("%w: %s", ErrUnknownPoint, id)
	}
	for _, p := range g.man.Pins {
		if p.Point == id && p.Holder == holder {
			return nil
		}
	}
	if len(g.man.Pins) >= MaxPins {
		return fmt.Errorf("%w: %d pins", delta.ErrLimit, len(g.man.Pins))
	}
	m := g.man.clone()
	m.Pins = append(m.Pins, Pin{Point: id, Holder: holder, Since: g.s.opts.now().UTC()})
	return g.commit(m, nil)
}

// Unpin implements Group.
func (g *dirGroup) Unpin(ctx context.Context, id delta.PointID, holder string) error {
	g.opMu.Lock()
	defer g.opMu.Unlock()
	if err := g.releaseLocked(ctx, id, holder); err != nil {
		return err
	}
	_, err := g.pruneLocked(ctx)
	return err
}

// releaseLocked removes holder's pin of point id; when that pin was all
// that kept the point, the point goes in the same commit.
func (g *dirGroup) releaseLocked(ctx context.Context, id delta.PointID, holder string) error {
	if err := g.usable(); err != nil {
		return err
	}
	if j := g.onlyHeldBy(id, holder); j >= 0 {
		// The point goes with its pin, in one commit.
		if err := g.removePoint(ctx, j, holder); err != nil {
			if g.usable() != nil {
				return err
			}
			// Not removable now (a full disk, say): release the pin, the
			// next prune removes the point.
			if uerr := g.unpinLocked(id, holder); uerr != nil {
				return errors.Join(err, uerr)
			}
			return fmt.Errorf("checkpoint: unpinned point %s not pruned: %w", id, err)
		}
		return nil
	}
	return g.unpinLocked(id, holder)
}

// onlyHeldBy returns the index of point id when holder's pin is all that
// keeps it in the chain (retention does not, no other pin or view holds
// it, it is not the latest), else -1.
func (g *dirGroup) onlyHeldBy(id delta.PointID, holder string) int {
	g.mu.RLock()
	defer g.mu.RUnlock()
	m := g.man
	j := m.index(id)
	if j < 0 || j == len(m.Points)-1 || m.retained()[j] || g.refs[id] > 0 {
		return -1
	}
	mine := false
	for _, p := range m.Pins {
		if p.Point != id {
			continue
		}
		if p.Holder != holder {
			return -1
		}
		mine = true
	}
	if !mine {
		return -1
	}
	return j
}

// DropBefore implements Group.
func (g *dirGroup) DropBefore(ctx context.Context, id delta.PointID) error {
	g.opMu.Lock()
	defer g.opMu.Unlock()
	if err := g.usable(); err != nil {
		return err
	}
	i := g.man.index(id)
	if i < 0 {
		return fmt.Errorf("%w: %s", ErrUnknownPoint, id)
	}
	if i > 0 && g.man.index(g.man.DropBefore) < i {
		m := g.man.clone()
		m.DropBefore = id
		if err := g.commit(m, nil); err != nil {
			return err
		}
	}
	_, err := g.pruneLocked(ctx)
	return err
}

func (g *dirGroup) unpinLocked(id delta.PointID, holder string) error {
	if err := g.usable(); err != nil {
		return err
	}
	i := slices.IndexFunc(g.man.Pins, func(p Pin) bool { return p.Point == id && p.Holder == holder })
	if i < 0 {
		return nil
	}
	m := g.man.clone()
	m.Pins = slices.Delete(m.Pins, i, i+1)
	return g.commit(m, nil)
}

// Pins implements Group.
func (g *dirGroup) Pins(ctx context.Context) ([]Pin, error) {
	g.mu.RLock()
	defer g.mu.RUnlock()
	if err := g.usableLocked(); err != nil {
		return nil, err
	}
	out := slices.Clone(g.man.Pins)
	slices.SortStableFunc(out, func(a, b Pin) int {
		if c := g.man.index(a.Point) - g.man.index(b.Point); c != 0 {
			return c
		}
		return strings.Compare(a.Holder, b.Holder)
	})
	return out, nil
}

// SetMeta implements Group.
func (g *dirGroup) SetMeta(ctx context.Context, meta []byte) error {
	if len(meta) > MaxMetaSize {
		return fmt.Errorf("%w: metadata of %d bytes exceeds %d", ErrInvalidSpec, len(meta), MaxMetaSize)
	}
	g.opMu.Lock()
	defer g.opMu.Unlock()
	if err := g.usable(); err != nil {
		return err
	}
	m := g.man.clone()
	m.Spec.Meta = slices.Clone(meta)
	return g.commit(m, nil)
}

// SetRetention implements Group.
func (g *dirGroup) SetRetention(ctx context.Context, r Retention) error {
	if err := r.validate(); err != nil {
		return err
	}
	g.opMu.Lock()
	defer g.opMu.Unlock()
	if err := g.usable(); err != nil {
		return err
	}
	m := g.man.clone()
	m.Retention, m.Spec.Retention = r, r
	if err := g.commit(m, nil); err != nil {
		return err
	}
	_, err := g.pruneLocked(ctx)
	return err
}
