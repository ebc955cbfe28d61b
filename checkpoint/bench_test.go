package checkpoint

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"golang.org/x/sync/errgroup"

	"github.com/blockrep/blockrep/checkpoint/vfs"
	"github.com/blockrep/blockrep/delta"
)

const (
	benchVolume  = 128 << 20 // bytes per benchmark volume
	benchChanged = 512       // blocks of 64 KiB changed per delta: 32 MiB
)

// benchStream returns a delta of benchChanged random whole blocks on top of
// the world's latest point, encoded without compression (the data is
// random anyway) so that setup stays quick.
func benchStream(b *testing.B, w *world) []byte {
	src := &testSource{geoms: w.geoms, imgs: w.cur}
	geo := w.geoms[0]
	set := delta.NewSet(geo.Blocks())
	for set.Count() < benchChanged {
		blk := w.rng.Int64N(geo.Blocks())
		set.Add(blk)
		off, n := geo.BlockBounds(blk)
		fillRand(w.rng, w.cur[0][off:off+int64(n)])
	}
	src.blocks = []*delta.Set{set}
	src.pages = []map[int64]delta.PageMask{nil}
	id, err := delta.NewPointID(w.ids)
	require.NoError(b, err)
	h := delta.Header{Group: w.group, Base: w.latest(), New: id, Time: w.clock, BlockSize: w.spec.BlockSize, Volumes: w.spec.Volumes}
	w.clock = w.clock.Add(w.step)
	var buf bytes.Buffer
	enc, err := delta.NewEncoder(&buf, h, delta.WithCompression(false), delta.WithDedup(false))
	require.NoError(b, err)
	_, err = enc.Encode(context.Background(), src)
	require.NoError(b, err)
	w.points = append(w.points, worldPoint{id: id})
	return buf.Bytes()
}

// BenchmarkApply measures applying a delta with undo logging and every
// fsync, in MB/s of changed blocks, on the real filesystem.
func BenchmarkApply(b *testing.B) {
	for _, batch := range []int{4 << 20, 16 << 20} {
		b.Run(fmt.Sprintf("batch=%dMiB", batch>>20), func(b *testing.B) { benchApply(b, WithApplyBatch(batch)) })
	}
}

// BenchmarkApplyMem is BenchmarkApply on the in-memory filesystem: the
// CPU cost of an apply (verifying, decoding and hashing) without the disk.
func BenchmarkApplyMem(b *testing.B) {
	benchApplyOn(b, vfs.NewMem(), "store")
}

func benchApply(b *testing.B, opts ...Option) {
	benchApplyOn(b, vfs.OS(), b.TempDir(), opts...)
}

func benchApplyOn(b *testing.B, fsys vfs.FS, root string, opts ...Option) {
	ctx := context.Background()
	w := newWorld(b, 70, "bench", delta.DefaultBlockSize, benchVolume)
	st, err := Open(fsys, root, opts...)
	require.NoError(b, err)
	defer st.Close()
	g, err := st.CreateGroup(ctx, w.group, w.spec)
	require.NoError(b, err)
	apply(b, g, benchStream(b, w))
	// A second, untimed apply: the first point is applied without undo
	// log or staging, so this one sets up the buffers every later apply
	// reuses, as a replica host's do cycle after cycle.
	apply(b, g, benchStream(b, w))
	b.SetBytes(benchChanged * delta.DefaultBlockSize)
	b.ResetTimer()
	for range b.N {
		b.StopTimer()
		s := benchStream(b, w)
		// Collect the garbage of building the stream now, so that the
		// timed apply does not pay for it.
		runtime.GC()
		b.StartTimer()
		if _, err := g.Apply(ctx, bytes.NewReader(s)); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkRawWriteFsync is the machine's floor for BenchmarkApply: the
// same number of random 64 KiB blocks written in place into a file of the
// same size, then one fsync.
func BenchmarkRawWriteFsync(b *testing.B) {
	f, err := os.Create(filepath.Join(b.TempDir(), "raw.img"))
	require.NoError(b, err)
	defer f.Close()
	require.NoError(b, f.Truncate(benchVolume))
	rng := rand.New(rand.NewPCG(71, 71))
	block := make([]byte, delta.DefaultBlockSize)
	fillRand(rng, block)
	blocks := int64(benchVolume / delta.DefaultBlockSize)
	// Allocate the file first, as the store's volume is after its first
	// point, so that both measure overwrites.
	for i := range blocks {
		_, err := f.WriteAt(block, i*delta.DefaultBlockSize)
		require.NoError(b, err)
	}
	require.NoError(b, f.Sync())
	b.SetBytes(benchChanged * delta.DefaultBlockSize)
	b.ResetTimer()
	for range b.N {
		set := delta.NewSet(blocks)
		for set.Count() < benchChanged {
			set.Add(rng.Int64N(blocks))
		}
		for i := range set.All() {
			block[0]++
			if _, err := f.WriteAt(block, i*delta.DefaultBlockSize); err != nil {
				b.Fatal(err)
			}
		}
		if err := f.Sync(); err != nil {
			b.Fatal(err)
		}
	}
}

// benchChain builds a group of one volume with six points, each changing
// benchChanged blocks, and returns it with the oldest and latest ids.
func benchChain(b *testing.B) (Group, delta.PointID, delta.PointID, func()) {
	ctx := context.Background()
	w := newWorld(b, 72, "bench", delta.DefaultBlockSize, benchVolume)
	w.spec.Retention = Retention{Additional: 10}
	st, err := Open(vfs.OS(), b.TempDir())
	require.NoError(b, err)
	g, err := st.CreateGroup(ctx, w.group, w.spec)
	require.NoError(b, err)
	// A full first point, so that the volume holds data everywhere.
	full := &testSource{geoms: w.geoms, imgs: w.cur, pages: []map[int64]delta.PageMask{nil}}
	fillRand(w.rng, w.cur[0])
	all := delta.NewSet(w.geoms[0].Blocks())
	all.AddRange(0, all.Len())
	full.blocks = []*delta.Set{all}
	id, err := delta.NewPointID(w.ids)
	require.NoError(b, err)
	var buf bytes.Buffer
	enc, err := delta.NewEncoder(&buf, delta.Header{Group: w.group, New: id, Time: w.clock, BlockSize: w.spec.BlockSize, Volumes: w.spec.Volumes}, delta.WithCompression(false))
	require.NoError(b, err)
	_, err = enc.Encode(ctx, full)
	require.NoError(b, err)
	w.points = append(w.points, worldPoint{id: id})
	w.clock = w.clock.Add(w.step)
	apply(b, g, buf.Bytes())
	for range 5 {
		apply(b, g, benchStream(b, w))
	}
	return g, w.points[0].id, w.latest(), func() { st.Close() }
}

func benchRead(b *testing.B, g Group, id delta.PointID) {
	v, err := g.OpenPoint(context.Background(), id)
	require.NoError(b, err)
	defer v.Close()
	r := v.Volumes()[0]
	buf := make([]byte, 1<<20)
	b.SetBytes(r.Size())
	b.ResetTimer()
	for range b.N {
		for off := int64(0); off < r.Size(); off += int64(len(buf)) {
			if _, err := r.ReadAt(buf, off); err != nil {
				b.Fatal(err)
			}
		}
	}
}

// BenchmarkReadLatest reads the latest point (the live file) in 1 MiB reads.
func BenchmarkReadLatest(b *testing.B) {
	g, _, latest, done := benchChain(b)
	defer done()
	benchRead(b, g, latest)
}

// BenchmarkReadOldest reads the oldest of six points, through five undo
// logs that together cover about 2% of its blocks each.
func BenchmarkReadOldest(b *testing.B) {
	g, oldest, _, done := benchChain(b)
	defer done()
	benchRead(b, g, oldest)
}

// BenchmarkCloneCreate measures creating (and discarding) a writable clone
// of a point of a 100 GiB sparse volume.
func BenchmarkCloneCreate(b *testing.B) {
	ctx := context.Background()
	w := newWorld(b, 73, "bench", delta.DefaultBlockSize)
	w.spec.Volumes = []delta.VolumeInfo{{ID: "big", Size: 100 << 30}}
	w.geoms = w.spec.Geometries()
	st, err := Open(vfs.OS(), b.TempDir())
	require.NoError(b, err)
	defer st.Close()
	g, err := st.CreateGroup(ctx, w.group, w.spec)
	require.NoError(b, err)
	// One point with a few blocks, built without a 100 GiB image in memory.
	src := &sparseSource{geo: w.geoms[0], blocks: delta.NewSet(w.geoms[0].Blocks())}
	src.blocks.AddRange(1000, 16)
	id, err := delta.NewPointID(w.ids)
	require.NoError(b, err)
	var buf bytes.Buffer
	enc, err := delta.NewEncoder(&buf, delta.Header{Group: w.group, New: id, Time: w.clock, BlockSize: w.spec.BlockSize, Volumes: w.spec.Volumes})
	require.NoError(b, err)
	_, err = enc.Encode(ctx, src)
	require.NoError(b, err)
	apply(b, g, buf.Bytes())
	b.ResetTimer()
	for range b.N {
		c, err := g.Clone(ctx, id, "tf")
		if err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		if _, err := c.Volumes()[0].WriteAt([]byte("written"), 50<<30); err != nil {
			b.Fatal(err)
		}
		if err := c.Discard(ctx); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
	}
}

// sparseSource sends blocks of a constant non-zero pattern.
type sparseSource struct {
	geo    delta.Geometry
	blocks *delta.Set
}

func (s *sparseSource) Geometries() []delta.Geometry { return []delta.Geometry{s.geo} }
func (s *sparseSource) Blocks(int) *delta.Set        { return s.blocks }
func (s *sparseSource) Pages(int, int64, delta.PageMask) delta.PageMask {
	return nil
}
func (s *sparseSource) ReadBlock(_ int, b int64, p []byte) error {
	for i := range p {
		p[i] = byte(b) + byte(i)
	}
	return nil
}

// BenchmarkApplyFirst measures applying a group's first point: a full
// stream of benchVolume random bytes onto a new group, on the real
// filesystem, with every fsync; MB/s of volume written, as
// BenchmarkRawWriteFsync's are of blocks written.
func BenchmarkApplyFirst(b *testing.B) {
	ctx := context.Background()
	w := newWorld(b, 73, "bench", delta.DefaultBlockSize, benchVolume)
	fillRand(w.rng, w.cur[0])
	all := delta.NewSet(w.geoms[0].Blocks())
	all.AddRange(0, all.Len())
	full := &testSource{geoms: w.geoms, imgs: w.cur, blocks: []*delta.Set{all}, pages: []map[int64]delta.PageMask{nil}}
	st, err := Open(vfs.OS(), b.TempDir())
	require.NoError(b, err)
	defer st.Close()
	b.SetBytes(benchVolume)
	b.ResetTimer()
	for i := range b.N {
		b.StopTimer()
		name := fmt.Sprintf("%s-%d", w.group, i)
		g, err := st.CreateGroup(ctx, name, w.spec)
		require.NoError(b, err)
		id, err := delta.NewPointID(w.ids)
		require.NoError(b, err)
		var buf bytes.Buffer
		h := delta.Header{Group: name, New: id, Time: w.clock, BlockSize: w.spec.BlockSize, Volumes: w.spec.Volumes}
		enc, err := delta.NewEncoder(&buf, h, delta.WithCompression(false))
		require.NoError(b, err)
		_, err = enc.Encode(ctx, full)
		require.NoError(b, err)
		runtime.GC()
		b.StartTimer()
		if _, err := g.Apply(ctx, bytes.NewReader(buf.Bytes())); err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		require.NoError(b, st.RemoveGroup(ctx, name))
		b.StartTimer()
	}
}

// The shape of the bench program's apply workload (examples/bench, issue
// 8): a 1 GiB volume of mixed content and a delta of 10% of its 64 KiB
// blocks, whole, each text-like or random, compressed as a primary sends
// them.
const (
	mixedVolume  = 1 << 30
	mixedChanged = mixedVolume / delta.DefaultBlockSize / 10
)

// mixedContent makes seeded block content: zero, text-like (words of a
// small vocabulary, which zstd shrinks about fourfold) or random.
type mixedContent struct {
	rng  *rand.Rand
	text []byte
}

func newMixedContent(seed uint64) *mixedContent {
	rng := rand.New(rand.NewPCG(seed, seed^0x5bd1e995))
	words := make([][]byte, 1500)
	for i := range words {
		words[i] = make([]byte, 3+rng.IntN(8))
		for j := range words[i] {
			words[i][j] = 'a' + byte(rng.IntN(26))
		}
	}
	text := make([]byte, 0, 1<<20+64)
	for len(text) < 1<<20 {
		// Products of two uniforms: a few words are frequent.
		text = append(text, words[int(float64(len(words))*rng.Float64()*rng.Float64())]...)
		if rng.IntN(12) == 0 {
			text = append(text, '\n')
		} else {
			text = append(text, ' ')
		}
	}
	return &mixedContent{rng: rng, text: text[:1<<20]}
}

// fill writes one block: zero (when zeros is set, a quarter of the
// blocks), else text-like and random about half and half.
func (c *mixedContent) fill(p []byte, zeros bool) {
	k := c.rng.IntN(100)
	switch {
	case zeros && k < 25:
		clear(p)
	case k < 60:
		copy(p, c.text[c.rng.IntN(len(c.text)-len(p)):])
	default:
		for i := 0; i+8 <= len(p); i += 8 {
			binary.LittleEndian.PutUint64(p[i:], c.rng.Uint64())
		}
	}
}

// mixedSource sends every block of a volume, made on demand from a seed so
// that a 1 GiB first point needs no image in memory.
type mixedSource struct {
	geo  delta.Geometry
	seed uint64
	all  *delta.Set
}

func (s *mixedSource) Geometries() []delta.Geometry { return []delta.Geometry{s.geo} }
func (s *mixedSource) Blocks(int) *delta.Set        { return s.all }
func (s *mixedSource) Pages(int, int64, delta.PageMask) delta.PageMask {
	return nil
}
func (s *mixedSource) ReadBlock(_ int, b int64, p []byte) error {
	newMixedBlock(s.seed, b).fill(p, true)
	return nil
}

// mixedBase holds the text every mixedSource block draws from.
var mixedBase = newMixedContent(1)

// newMixedBlock returns the content maker of one block of a mixedSource:
// blocks are read in parallel, so each has its own.
func newMixedBlock(seed uint64, b int64) *mixedContent {
	return &mixedContent{rng: rand.New(rand.NewPCG(seed, uint64(b))), text: mixedBase.text}
}

// BenchmarkApplyMixed measures applying the bench program's apply delta
// (mixedChanged whole blocks of text-like and random data, zstd-compressed,
// onto a 1 GiB volume of mixed content) with undo log and every fsync, on
// the real filesystem, in MB/s of blocks applied. Every apply runs in a
// freshly opened store with the process's free memory given back to the
// system first, as in the bench program's child process, which pays for
// the first touch of every buffer it uses.
func BenchmarkApplyMixed(b *testing.B) {
	b.Run("default", func(b *testing.B) { benchApplyMixed(b) })
	b.Run("stage=0", func(b *testing.B) { benchApplyMixed(b, WithStageMemory(0)) })
}

func benchApplyMixed(b *testing.B, opts ...Option) {
	ctx := context.Background()
	root := b.TempDir()
	spec := GroupSpec{BlockSize: delta.DefaultBlockSize, Volumes: []delta.VolumeInfo{{ID: "disk", Size: mixedVolume}}}
	geo := spec.Geometries()[0]
	ids := rand.NewChaCha8([32]byte{74})
	st, err := Open(vfs.OS(), root)
	require.NoError(b, err)
	g, err := st.CreateGroup(ctx, "bench", spec)
	require.NoError(b, err)
	all := delta.NewSet(geo.Blocks())
	all.AddRange(0, all.Len())
	last, err := delta.NewPointID(ids)
	require.NoError(b, err)
	clock := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
	h := delta.Header{Group: "bench", New: last, Time: clock, BlockSize: spec.BlockSize, Volumes: spec.Volumes}
	// The full first point streams through a pipe: no 1 GiB buffer.
	pr, pw := io.Pipe()
	var enc errgroup.Group
	enc.Go(func() error {
		e, err := delta.NewEncoder(pw, h)
		if err == nil {
			_, err = e.Encode(ctx, &mixedSource{geo: geo, seed: 74, all: all})
		}
		pw.CloseWithError(err)
		return err
	})
	_, err = g.Apply(ctx, pr)
	pr.CloseWithError(err)
	require.NoError(b, enc.Wait())
	require.NoError(b, err)
	require.NoError(b, st.Close())

	content := newMixedContent(75)
	b.SetBytes(mixedChanged * delta.DefaultBlockSize)
	b.ResetTimer()
	for range b.N {
		b.StopTimer()
		set := delta.NewSet(geo.Blocks())
		for set.Count() < mixedChanged {
			set.Add(content.rng.Int64N(geo.Blocks()))
		}
		src := &blockMapSource{geo: geo, set: set, blocks: make(map[int64][]byte, mixedChanged)}
		for blk := range set.All() {
			_, n := geo.BlockBounds(blk)
			src.blocks[blk] = make([]byte, n)
			content.fill(src.blocks[blk], false)
		}
		id, err := delta.NewPointID(ids)
		require.NoError(b, err)
		clock = clock.Add(time.Hour)
		var buf bytes.Buffer
		e, err := delta.NewEncoder(&buf, delta.Header{Group: "bench", Base: last, New: id, Time: clock, BlockSize: spec.BlockSize, Volumes: spec.Volumes})
		require.NoError(b, err)
		_, err = e.Encode(ctx, src)
		require.NoError(b, err)
		last = id
		src = nil
		st, err := Open(vfs.OS(), root, opts...)
		require.NoError(b, err)
		g, err := st.Group(ctx, "bench")
		require.NoError(b, err)
		debug.FreeOSMemory()
		b.StartTimer()
		if _, err := g.Apply(ctx, bufio.NewReaderSize(bytes.NewReader(buf.Bytes()), 1<<20)); err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		require.NoError(b, st.Close())
		b.StartTimer()
	}
}

// blockMapSource sends the blocks of a map.
type blockMapSource struct {
	geo    delta.Geometry
	set    *delta.Set
	blocks map[int64][]byte
}

func (s *blockMapSource) Geometries() []delta.Geometry { return []delta.Geometry{s.geo} }
func (s *blockMapSource) Blocks(int) *delta.Set        { return s.set }
func (s *blockMapSource) Pages(int, int64, delta.PageMask) delta.PageMask {
	return nil
}
func (s *blockMapSource) ReadBlock(_ int, b int64, p []byte) error {
	copy(p, s.blocks[b])
	return nil
}
