package checkpoint

import (
	"context"
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
	if err := g.unpinLocked(id, holder); err != nil {
		return err
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
