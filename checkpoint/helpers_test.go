package checkpoint

import (
	"bytes"
	"context"
	"io"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/blockrep/blockrep/checkpoint/vfs"
	"github.com/blockrep/blockrep/delta"
)

// testSource is a delta.Source over in-memory images with optional page
// masks, so tests produce page-granular records.
type testSource struct {
	geoms  []delta.Geometry
	imgs   [][]byte
	blocks []*delta.Set
	pages  []map[int64]delta.PageMask
}

func (s *testSource) Geometries() []delta.Geometry { return s.geoms }
func (s *testSource) Blocks(v int) *delta.Set      { return s.blocks[v] }
func (s *testSource) Pages(v int, b int64, dst delta.PageMask) delta.PageMask {
	return s.pages[v][b]
}
func (s *testSource) ReadBlock(v int, b int64, p []byte) error {
	off, _ := s.geoms[v].BlockBounds(b)
	copy(p, s.imgs[v][off:])
	return nil
}

// world is the primary side of a test: the current images and every point
// made so far, with its images, to check the store against.
type world struct {
	t      testing.TB
	rng    *rand.Rand
	ids    *rand.ChaCha8
	group  string
	spec   GroupSpec
	geoms  []delta.Geometry
	cur    [][]byte
	points []worldPoint
	clock  time.Time
	step   time.Duration
}

type worldPoint struct {
	id   delta.PointID
	imgs [][]byte
	app  bool
}

func newWorld(t testing.TB, seed uint64, group string, blockSize int, sizes ...int64) *world {
	t.Logf("seed %d", seed)
	w := &world{
		t: t, rng: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)),
		ids: rand.NewChaCha8([32]byte{byte(seed), byte(seed >> 8), 1}), group: group,
		clock: time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC), step: time.Hour,
	}
	w.spec.BlockSize = blockSize
	for i, s := range sizes {
		w.spec.Volumes = append(w.spec.Volumes, delta.VolumeInfo{ID: "disk" + string(rune('a'+i)), Size: s})
		w.cur = append(w.cur, make([]byte, s))
	}
	w.geoms = w.spec.Geometries()
	return w
}

func (w *world) latest() delta.PointID {
	if len(w.points) == 0 {
		return delta.PointID{}
	}
	return w.points[len(w.points)-1].id
}

// change is how a test asks for one delta.
type change struct {
	blocks int  // blocks changed per volume
	pages  bool // change some pages of some blocks only
	zeros  bool // zero some blocks
	copies bool // make some blocks equal to each other (copy records)
	app    bool
	meta   []byte // the group metadata the header carries
}

// next changes the images and returns the delta stream of the change,
// based on the latest point, and records the new point.
func (w *world) next(c change) []byte {
	src := &testSource{geoms: w.geoms, imgs: w.cur}
	for v, geo := range w.geoms {
		set := delta.NewSet(geo.Blocks())
		pages := map[int64]delta.PageMask{}
		var whole []int64
		for range c.blocks {
			b := w.rng.Int64N(geo.Blocks())
			if set.Contains(b) {
				continue
			}
			set.Add(b)
			off, blen := geo.BlockBounds(b)
			blk := w.cur[v][off : off+int64(blen)]
			np := geo.BlockPages(b)
			switch {
			case c.pages && np > 1 && w.rng.IntN(2) == 0:
				m := make(delta.PageMask, (np+63)/64)
				for p := range np {
					if w.rng.IntN(3) == 0 {
						m[p/64] |= 1 << (p % 64)
					}
				}
				if m.Count(np) == 0 || m.Full(np) {
					m[0] |= 1
					m[(np-1)/64] &^= 1 << ((np - 1) % 64)
				}
				for p := range m.All(np) {
					lo, hi := pageSpan(blen, p)
					if c.zeros && w.rng.IntN(4) == 0 {
						clear(blk[lo:hi])
					} else {
						fillRand(w.rng, blk[lo:hi])
					}
				}
				pages[b] = m
			case c.zeros && w.rng.IntN(4) == 0:
				clear(blk)
			default:
				fillRand(w.rng, blk)
				whole = append(whole, b)
			}
		}
		if c.copies && len(whole) >= 2 {
			// Copy records: later whole blocks equal to the first one.
			o0, l0 := geo.BlockBounds(whole[0])
			for _, b := range whole[1:] {
				if o, l := geo.BlockBounds(b); l == l0 && w.rng.IntN(2) == 0 {
					copy(w.cur[v][o:o+int64(l)], w.cur[v][o0:o0+int64(l0)])
				}
			}
		}
		src.blocks = append(src.blocks, set)
		src.pages = append(src.pages, pages)
	}
	id, err := delta.NewPointID(w.ids)
	require.NoError(w.t, err)
	h := delta.Header{
		Group: w.group, Base: w.latest(), New: id, Time: w.clock, BlockSize: w.spec.BlockSize,
		Volumes: w.spec.Volumes, Consistency: delta.ConsistencyCrash, Meta: c.meta,
	}
	if c.app {
		h.Consistency = delta.ConsistencyApp
	}
	w.clock = w.clock.Add(w.step)
	var buf bytes.Buffer
	enc, err := delta.NewEncoder(&buf, h, delta.WithConcurrency(1))
	require.NoError(w.t, err)
	_, err = enc.Encode(context.Background(), src)
	require.NoError(w.t, err)
	imgs := make([][]byte, len(w.cur))
	for i := range w.cur {
		imgs[i] = bytes.Clone(w.cur[i])
	}
	w.points = append(w.points, worldPoint{id: id, imgs: imgs, app: c.app})
	return buf.Bytes()
}

// forget drops the last recorded point (for a delta the store refused).
func (w *world) forget() {
	w.points = w.points[:len(w.points)-1]
	if len(w.points) == 0 {
		for i := range w.cur {
			clear(w.cur[i])
		}
		return
	}
	for i := range w.cur {
		copy(w.cur[i], w.points[len(w.points)-1].imgs[i])
	}
}

func (w *world) images(id delta.PointID) [][]byte {
	for _, p := range w.points {
		if p.id == id {
			return p.imgs
		}
	}
	w.t.Fatalf("point %s not in the world", id)
	return nil
}

func fillRand(rng *rand.Rand, p []byte) {
	for i := range p {
		p[i] = byte(rng.Uint32())
	}
}

func readAll(t testing.TB, r VolumeReader) []byte {
	t.Helper()
	b := make([]byte, r.Size())
	n, err := r.ReadAt(b, 0)
	if err != nil && !(err == io.EOF && n == len(b)) {
		require.NoError(t, err)
	}
	require.Equal(t, len(b), n)
	return b
}

// requirePoint checks every volume of point id byte for byte.
func requirePoint(t testing.TB, g Group, id delta.PointID, want [][]byte) {
	t.Helper()
	v, err := g.OpenPoint(context.Background(), id)
	require.NoError(t, err)
	defer v.Close()
	require.Len(t, v.Volumes(), len(want))
	for i, r := range v.Volumes() {
		got := readAll(t, r)
		if !bytes.Equal(got, want[i]) {
			t.Fatalf("point %s volume %d differs at byte %d", id, i, firstDiff(got, want[i]))
		}
	}
}

func firstDiff(a, b []byte) int {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	return min(len(a), len(b))
}

// newMemStore opens a store on a fresh MemFS and creates the world's group.
func newMemStore(t testing.TB, w *world, opts ...Option) (*vfs.MemFS, *DirStore, Group) {
	t.Helper()
	fsys := vfs.NewMem()
	st, err := Open(fsys, "store", opts...)
	require.NoError(t, err)
	t.Cleanup(func() { st.Close() })
	g, err := st.CreateGroup(context.Background(), w.group, w.spec)
	require.NoError(t, err)
	return fsys, st, g
}

func apply(t testing.TB, g Group, stream []byte) ApplyResult {
	t.Helper()
	res, err := g.Apply(context.Background(), bytes.NewReader(stream))
	require.NoError(t, err)
	return res
}
