package checkpointtest

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/blockrep/blockrep/checkpoint"
	"github.com/blockrep/blockrep/delta"
)

// Primary is an in-memory primary side of a group for tests: it changes its
// volumes and encodes each change as a delta stream.
type Primary struct {
	Group  string
	Spec   checkpoint.GroupSpec
	rng    *rand.Rand
	ids    *rand.ChaCha8
	geoms  []delta.Geometry
	cur    [][]byte
	points []PrimaryPoint
	clock  time.Time
	// Step is how far apart in time consecutive points are (default an hour).
	Step time.Duration
}

// PrimaryPoint is a point the primary made, with its images.
type PrimaryPoint struct {
	ID     delta.PointID
	Images [][]byte // the volumes as of the point; do not modify
}

// Change says what the next delta changes, per volume.
type Change struct {
	Blocks int  // how many random blocks to change
	Pages  bool // change only some pages of some blocks
	Zeros  bool // zero some blocks or pages
	Copies bool // make some blocks equal (copy records)
	App    bool // mark the point app-consistent
}

// NewPrimary returns a primary with zero-filled volumes of the given sizes
// and block size, deterministic under seed.
func NewPrimary(group string, seed uint64, blockSize int, sizes ...int64) *Primary {
	p := &Primary{
		Group: group,
		rng:   rand.New(rand.NewPCG(seed, seed+1)),
		ids:   rand.NewChaCha8([32]byte{byte(seed), byte(seed >> 8), byte(seed >> 16), 7}),
		clock: time.Date(2026, 6, 1, 8, 0, 0, 0, time.UTC),
		Step:  time.Hour,
	}
	p.Spec.BlockSize = blockSize
	for i, s := range sizes {
		p.Spec.Volumes = append(p.Spec.Volumes, delta.VolumeInfo{ID: fmt.Sprintf("disk%d", i), Size: s})
		p.cur = append(p.cur, make([]byte, s))
	}
	p.geoms = p.Spec.Geometries()
	return p
}

// Latest returns the primary's latest point id (zero before the first).
func (p *Primary) Latest() delta.PointID {
	if len(p.points) == 0 {
		return delta.PointID{}
	}
	return p.points[len(p.points)-1].ID
}

// Points returns the points made so far, oldest first.
func (p *Primary) Points() []PrimaryPoint { return p.points }

// Images returns the images of point id, or nil if the primary never made it.
func (p *Primary) Images(id delta.PointID) [][]byte {
	for _, pt := range p.points {
		if pt.ID == id {
			return pt.Images
		}
	}
	return nil
}

// Reset makes point id the primary's current state and forgets the points
// after it (as after a failover to it).
func (p *Primary) Reset(id delta.PointID) {
	for i, pt := range p.points {
		if pt.ID == id {
			p.points = p.points[:i+1]
			for v := range p.cur {
				copy(p.cur[v], pt.Images[v])
			}
			return
		}
	}
	panic("checkpointtest: Reset to an unknown point")
}

// Next applies a random change to the volumes and returns its delta stream.
func (p *Primary) Next(c Change) []byte {
	src := &source{geoms: p.geoms, imgs: p.cur}
	for v, geo := range p.geoms {
		set := delta.NewSet(geo.Blocks())
		pages := map[int64]delta.PageMask{}
		var whole []int64
		for range c.Blocks {
			b := p.rng.Int64N(geo.Blocks())
			if set.Contains(b) {
				continue
			}
			set.Add(b)
			off, blen := geo.BlockBounds(b)
			blk := p.cur[v][off : off+int64(blen)]
			np := geo.BlockPages(b)
			switch {
			case c.Pages && np > 1 && p.rng.IntN(2) == 0:
				m := make(delta.PageMask, (np+63)/64)
				m[0] |= 1
				for pg := 1; pg < np-1; pg++ {
					if p.rng.IntN(3) == 0 {
						m[pg/64] |= 1 << (pg % 64)
					}
				}
				for pg := range m.All(np) {
					lo := pg * delta.PageSize
					hi := min(lo+delta.PageSize, blen)
					if c.Zeros && p.rng.IntN(4) == 0 {
						clear(blk[lo:hi])
					} else {
						p.fill(blk[lo:hi])
					}
				}
				pages[b] = m
			case c.Zeros && p.rng.IntN(4) == 0:
				clear(blk)
			default:
				p.fill(blk)
				whole = append(whole, b)
			}
		}
		if c.Copies && len(whole) >= 2 {
			o0, l0 := geo.BlockBounds(whole[0])
			for _, b := range whole[1:] {
				if o, l := geo.BlockBounds(b); l == l0 && p.rng.IntN(2) == 0 {
					copy(p.cur[v][o:o+int64(l)], p.cur[v][o0:o0+int64(l0)])
				}
			}
		}
		src.blocks = append(src.blocks, set)
		src.pages = append(src.pages, pages)
	}
	id, err := delta.NewPointID(p.ids)
	if err != nil {
		panic(err)
	}
	h := delta.Header{
		Group: p.Group, Base: p.Latest(), New: id, Time: p.clock, BlockSize: p.Spec.BlockSize,
		Volumes: p.Spec.Volumes, Consistency: delta.ConsistencyCrash,
	}
	if c.App {
		h.Consistency = delta.ConsistencyApp
	}
	p.clock = p.clock.Add(p.Step)
	var buf bytes.Buffer
	enc, err := delta.NewEncoder(&buf, h, delta.WithConcurrency(1))
	if err != nil {
		panic(err)
	}
	if _, err := enc.Encode(context.Background(), src); err != nil {
		panic(err)
	}
	imgs := make([][]byte, len(p.cur))
	for i := range p.cur {
		imgs[i] = bytes.Clone(p.cur[i])
	}
	p.points = append(p.points, PrimaryPoint{ID: id, Images: imgs})
	return buf.Bytes()
}

func (p *Primary) fill(b []byte) {
	for i := range b {
		b[i] = byte(p.rng.Uint32())
	}
}

// source is a delta.Source over the primary's images with page masks.
type source struct {
	geoms  []delta.Geometry
	imgs   [][]byte
	blocks []*delta.Set
	pages  []map[int64]delta.PageMask
}

func (s *source) Geometries() []delta.Geometry { return s.geoms }
func (s *source) Blocks(v int) *delta.Set      { return s.blocks[v] }
func (s *source) Pages(v int, b int64, _ delta.PageMask) delta.PageMask {
	return s.pages[v][b]
}
func (s *source) ReadBlock(v int, b int64, p []byte) error {
	off, _ := s.geoms[v].BlockBounds(b)
	copy(p, s.imgs[v][off:])
	return nil
}
