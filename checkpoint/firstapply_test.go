package checkpoint

import (
	"bytes"
	"context"
	"errors"
	"io"
	"io/fs"
	"os"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/blockrep/blockrep/checkpoint/vfs"
	"github.com/blockrep/blockrep/delta"
)

// firstWorld is a group of two volumes (one with a short last block) and
// its first, full stream.
func firstWorld(t *testing.T, seed uint64) (*world, []byte) {
	w := newWorld(t, seed, "vm1", 16<<10, 256<<10, 160<<10+5000)
	return w, w.next(change{blocks: 14, pages: true, zeros: true, copies: true})
}

// corruptAt returns a copy of stream with one byte flipped at frac of its
// length: past the header, so the apply has written blocks when it fails.
func corruptAt(stream []byte, frac float64) []byte {
	bad := bytes.Clone(stream)
	bad[int(float64(len(bad))*frac)] ^= 0x5a
	return bad
}

// requireNoPoint checks a group without points: zero volumes, no marker.
func requireNoPoint(t *testing.T, fsys *vfs.MemFS, g Group, w *world) {
	t.Helper()
	pts, err := g.Points(context.Background())
	require.NoError(t, err)
	require.Empty(t, pts)
	for i, img := range w.cur {
		requireZeroVolume(t, g, i, len(img))
	}
	_, err = fsys.Stat("store/groups/" + w.group + "/" + firstApplyName)
	require.ErrorIs(t, err, fs.ErrNotExist)
}

// The first apply writes no undo log and stages nothing, and leaves no
// marker behind.
func TestFirstApplyWritesOnlyVolumes(t *testing.T) {
	w, stream := firstWorld(t, 90)
	fsys, _, g := newMemStore(t, w, WithStageMemory(0))
	var touched []string
	fsys.SetHook(func(op vfs.Op) error {
		if strings.Contains(op.Path, "/undo/") || strings.Contains(op.Path, "/staging/") {
			touched = append(touched, op.Path)
		}
		return nil
	})
	res := apply(t, g, stream)
	fsys.SetHook(nil)
	assert.Empty(t, touched)
	assert.Equal(t, w.latest(), res.Point.ID)
	assert.Equal(t, int64(len(stream)), res.Point.Size)
	requireChainOf(t, g, w)
	_, err := fsys.Stat("store/groups/vm1/" + firstApplyName)
	assert.ErrorIs(t, err, fs.ErrNotExist)
	// The second apply, with its undo log, returns to the first point.
	second := w.next(change{blocks: 6, pages: true})
	apply(t, g, second)
	requireChainOf(t, g, w)
}

// A first stream that fails verification after some blocks were written
// leaves no point and zero volumes, and the good stream then applies.
func TestFirstApplyCorrupt(t *testing.T) {
	for _, frac := range []float64{0.5, 0.8, 0.99} {
		w, stream := firstWorld(t, 91)
		// Small batches: the records before the damaged one are written
		// while the rest of the stream is still being verified.
		fsys, _, g := newMemStore(t, w, WithApplyBatch(64<<10))
		writes := 0
		fsys.SetHook(func(op vfs.Op) error {
			if op.Kind == vfs.OpWrite && strings.HasSuffix(op.Path, ".img") {
				writes++
			}
			return nil
		})
		_, err := g.Apply(context.Background(), bytes.NewReader(corruptAt(stream, frac)))
		fsys.SetHook(nil)
		require.Error(t, err, "corrupt at %v", frac)
		assert.ErrorIs(t, err, delta.ErrCorrupt, "corrupt at %v", frac)
		assert.Positive(t, writes, "corrupt at %v: nothing was written before the corruption showed", frac)
		requireNoPoint(t, fsys, g, w)
		res := apply(t, g, stream)
		assert.Equal(t, w.latest(), res.Point.ID)
		requireChainOf(t, g, w)
	}
}

// A first stream for other volumes is refused before anything is written.
func TestFirstApplyMismatch(t *testing.T) {
	w, _ := firstWorld(t, 92)
	other := newWorld(t, 92, "vm1", 16<<10, 128<<10)
	stream := other.next(change{blocks: 4})
	fsys, _, g := newMemStore(t, w)
	writes := 0
	fsys.SetHook(func(op vfs.Op) error {
		if op.Kind == vfs.OpWrite || op.Kind == vfs.OpCreate {
			writes++
		}
		return nil
	})
	_, err := g.Apply(context.Background(), bytes.NewReader(stream))
	fsys.SetHook(nil)
	require.ErrorIs(t, err, ErrVolumeMismatch)
	assert.Zero(t, writes)
	requireNoPoint(t, fsys, g, w)
}

// A crash at every operation of a first apply of a corrupt stream leaves
// no point and zero volumes after the reopen.
func TestCrashDuringCorruptFirstApply(t *testing.T) {
	w, stream := firstWorld(t, 93)
	base := setupChain(t, w, 0, change{})
	bad := corruptAt(stream, 0.9)
	total := crashLoop(t, base, w.group, func(g Group) error {
		_, err := g.Apply(context.Background(), bytes.NewReader(bad))
		if errors.Is(err, delta.ErrCorrupt) {
			return nil
		}
		return err
	}, func(t *testing.T, g Group, n int64, opErr error) {
		pts, err := g.Points(context.Background())
		require.NoError(t, err)
		require.Empty(t, pts, "crash at %d", n)
		for i, img := range w.cur {
			requireZeroVolume(t, g, i, len(img))
		}
		apply(t, g, stream)
		requireChainOf(t, g, w)
	}, WithApplyBatch(64<<10))
	t.Logf("%d operations", total)
}

// A marker left by a committed first apply (its removal was lost) is
// removed on opening and changes nothing.
func TestFirstApplyStaleMarker(t *testing.T) {
	w, stream := firstWorld(t, 94)
	fsys := vfs.NewMem()
	st, err := Open(fsys, "store")
	require.NoError(t, err)
	g, err := st.CreateGroup(context.Background(), w.group, w.spec)
	require.NoError(t, err)
	apply(t, g, stream)
	require.NoError(t, st.Close())
	require.NoError(t, writeSynced(fsys, "store/groups/vm1/"+firstApplyName, nil))
	require.NoError(t, fsys.SyncDir("store/groups/vm1"))

	st, err = Open(fsys, "store")
	require.NoError(t, err)
	defer st.Close()
	g, err = st.Group(context.Background(), w.group)
	require.NoError(t, err)
	assert.Empty(t, g.Recovered().Op)
	requireChainOf(t, g, w)
	_, err = fsys.Stat("store/groups/vm1/" + firstApplyName)
	assert.ErrorIs(t, err, fs.ErrNotExist)
}

// A marker in a group without points zeroes the volumes on opening.
func TestFirstApplyInterruptedReopen(t *testing.T) {
	w, stream := firstWorld(t, 95)
	base := setupChain(t, w, 0, change{})
	fsys := base.Clone()
	st, err := Open(fsys, "store")
	require.NoError(t, err)
	g, err := st.Group(context.Background(), w.group)
	require.NoError(t, err)
	writes := 0
	fsys.SetHook(func(op vfs.Op) error {
		if op.Kind == vfs.OpWrite && strings.HasSuffix(op.Path, ".img") {
			if writes++; writes == 6 {
				return vfs.ErrCrashed
			}
		}
		return nil
	})
	_, err = g.Apply(context.Background(), bytes.NewReader(stream))
	require.ErrorIs(t, err, vfs.ErrCrashed)
	fsys.SetHook(nil)
	require.NoError(t, st.Close())
	// Without a crash the unsynced writes stay: the reopen must zero them.
	st, err = Open(fsys, "store")
	require.NoError(t, err)
	defer st.Close()
	g, err = st.Group(context.Background(), w.group)
	require.NoError(t, err)
	assert.Equal(t, opApply, g.Recovered().Op)
	assert.Equal(t, "rolled back", g.Recovered().Outcome)
	requireNoPoint(t, fsys, g, w)
	apply(t, g, stream)
	requireChainOf(t, g, w)
}

// TestFirstApplyFaults fails one operation of a first apply, or every
// operation from one on, for every operation index: the group has no point
// and zero volumes (in process, or after a reopen when it said ErrFailed)
// or has the new point, and then takes the stream.
func TestFirstApplyFaults(t *testing.T) {
	ctx := context.Background()
	for _, mode := range []struct {
		name string
		hook func(n int64) vfs.Hook
	}{
		{"fail one", func(n int64) vfs.Hook { return vfs.FailAt(n) }},
		{"fail from", func(n int64) vfs.Hook { return vfs.FailFrom(n) }},
	} {
		t.Run(mode.name, func(t *testing.T) {
			w, stream := firstWorld(t, 96)
			base := setupChain(t, w, 0, change{})
			newID := w.latest()
			open := func(fsys *vfs.MemFS) (*DirStore, Group) {
				st, err := Open(fsys, "store")
				require.NoError(t, err)
				g, err := st.Group(ctx, w.group)
				require.NoError(t, err)
				return st, g
			}
			probe := base.Clone()
			st, g := open(probe)
			start := probe.Ops()
			apply(t, g, stream)
			total := probe.Ops() - start
			st.Close()
			var inProcess, reopened int
			for n := range total {
				fsys := base.Clone()
				st, g := open(fsys)
				fsys.SetHook(mode.hook(n))
				_, err := g.Apply(ctx, bytes.NewReader(stream))
				fsys.SetHook(nil)
				if err == nil {
					requireChainOf(t, g, w)
					st.Close()
					continue
				}
				require.ErrorIs(t, err, vfs.ErrInjected, "fault at %d", n)
				if _, perr := g.Points(ctx); errors.Is(perr, ErrFailed) {
					st.Close()
					st, g = open(fsys)
					reopened++
				} else {
					inProcess++
				}
				ids := requireChainOf(t, g, w)
				if len(ids) == 0 {
					for i, img := range w.cur {
						requireZeroVolume(t, g, i, len(img))
					}
					res := apply(t, g, stream)
					require.Equal(t, newID, res.Point.ID)
					requireChainOf(t, g, w)
				} else {
					require.Equal(t, []delta.PointID{newID}, ids, "fault at %d", n)
				}
				st.Close()
			}
			t.Logf("%d operations: %d faults handled in process, %d needed a reopen", total, inProcess, reopened)
			require.Positive(t, inProcess)
		})
	}
}

// A first apply's abort that crashed between truncating a volume to
// nothing and back to its size leaves a short volume: with the marker in a
// group without points, the reopen resizes it rather than call it damage.
func TestFirstApplyShortVolumeRecovered(t *testing.T) {
	w, stream := firstWorld(t, 97)
	fsys := setupChain(t, w, 0, change{})
	require.NoError(t, writeSynced(fsys, "store/groups/vm1/"+firstApplyName, nil))
	require.NoError(t, fsys.SyncDir("store/groups/vm1"))
	f, err := fsys.OpenFile("store/groups/vm1/"+volumeName(1), os.O_RDWR, 0)
	require.NoError(t, err)
	require.NoError(t, f.Truncate(0))
	require.NoError(t, f.Sync())
	require.NoError(t, f.Close())

	st, err := Open(fsys, "store")
	require.NoError(t, err)
	defer st.Close()
	g, err := st.Group(context.Background(), w.group)
	require.NoError(t, err)
	assert.Equal(t, "rolled back", g.Recovered().Outcome)
	requireNoPoint(t, fsys, g, w)
	apply(t, g, stream)
	requireChainOf(t, g, w)
}

// Without the marker, a short volume is damage, as before.
func TestShortVolumeWithoutMarkerIsDamage(t *testing.T) {
	w, _ := firstWorld(t, 98)
	fsys := setupChain(t, w, 0, change{})
	f, err := fsys.OpenFile("store/groups/vm1/"+volumeName(1), os.O_RDWR, 0)
	require.NoError(t, err)
	require.NoError(t, f.Truncate(0))
	require.NoError(t, f.Sync())
	require.NoError(t, f.Close())

	st, err := Open(fsys, "store")
	require.NoError(t, err)
	defer st.Close()
	_, err = st.Group(context.Background(), w.group)
	var de *DamagedError
	require.ErrorAs(t, err, &de)
}

// runStream fills the world's volumes with mixed blocks (zero, repeated
// text, random) and returns the first, full stream of them with data runs
// (format version 2), as an initial replication sends it.
func runStream(t *testing.T, w *world) []byte {
	t.Helper()
	text := bytes.Repeat([]byte("first apply of a data run "), 1<<12)
	var vols []io.ReaderAt
	var sets []*delta.Set
	for v, geo := range w.geoms {
		for b := range geo.Blocks() {
			off, blen := geo.BlockBounds(b)
			blk := w.cur[v][off : off+int64(blen)]
			switch w.rng.IntN(4) {
			case 0:
				clear(blk)
			case 1:
				fillRand(w.rng, blk)
			default:
				copy(blk, text[w.rng.IntN(len(text)-blen):])
			}
		}
		set := delta.NewSet(geo.Blocks())
		set.AddRange(0, geo.Blocks())
		vols, sets = append(vols, bytes.NewReader(w.cur[v])), append(sets, set)
	}
	src, err := delta.NewSource(vols, w.geoms, sets)
	require.NoError(t, err)
	id, err := delta.NewPointID(w.ids)
	require.NoError(t, err)
	h := delta.Header{Group: w.group, New: id, Time: w.clock, BlockSize: w.spec.BlockSize, Volumes: w.spec.Volumes}
	w.clock = w.clock.Add(w.step)
	var buf bytes.Buffer
	enc, err := delta.NewEncoder(&buf, h, delta.WithRunBytes(delta.MaxRunBytes))
	require.NoError(t, err)
	st, err := enc.Encode(context.Background(), src)
	require.NoError(t, err)
	require.Positive(t, st.RunBlocks)
	imgs := make([][]byte, len(w.cur))
	for i := range w.cur {
		imgs[i] = bytes.Clone(w.cur[i])
	}
	w.points = append(w.points, worldPoint{id: id, imgs: imgs})
	return buf.Bytes()
}

// A first stream of data runs applies on real files (more than
// firstWriteback bytes, so the write-out hints run), and the next delta
// applies over it with its undo log.
func TestFirstApplyOfDataRunsOnOSFiles(t *testing.T) {
	w := newWorld(t, 91, "vm1", 64<<10, 3*firstWriteback/2, 2<<20+5000)
	stream := runStream(t, w)
	st, err := Open(vfs.OS(), t.TempDir())
	require.NoError(t, err)
	defer st.Close()
	g, err := st.CreateGroup(context.Background(), w.group, w.spec)
	require.NoError(t, err)
	res := apply(t, g, stream)
	assert.Equal(t, w.latest(), res.Point.ID)
	requireChainOf(t, g, w)
	apply(t, g, w.next(change{blocks: 9, pages: true, zeros: true}))
	requireChainOf(t, g, w)
}

// A crash at every write or sync of a first apply of data runs leaves
// the group, after the reopen, without a point and with zero volumes (and
// the stream then applies), or at the new point.
func TestCrashDuringFirstApplyOfDataRuns(t *testing.T) {
	w := newWorld(t, 92, "vm1", 16<<10, 256<<10, 96<<10+100)
	stream := runStream(t, w)
	base := setupChain(t, w, 0, change{})
	total := crashLoop(t, base, w.group, func(g Group) error {
		_, err := g.Apply(context.Background(), bytes.NewReader(stream))
		return err
	}, func(t *testing.T, g Group, n int64, opErr error) {
		pts, err := g.Points(context.Background())
		require.NoError(t, err)
		if len(pts) == 0 {
			require.Error(t, opErr, "crash at %d: the apply reported success", n)
			for i, img := range w.cur {
				requireZeroVolume(t, g, i, len(img))
			}
			apply(t, g, stream)
		}
		requireChainOf(t, g, w)
	}, WithApplyBatch(64<<10))
	t.Logf("%d operations", total)
}

func TestWritebackRanges(t *testing.T) {
	wb := newWritebackRanges(2)
	wb.add(0, 4096, 4096)
	wb.add(0, 0, 4096)
	wb.add(1, 1<<20, firstWriteback-8192-1)
	assert.Equal(t, []int64{0, 1 << 20}, wb.lo)
	assert.Equal(t, []int64{8192, 1<<20 + firstWriteback - 8192 - 1}, wb.hi)
	// Below the threshold nothing starts and nothing is forgotten.
	wb.start(nil)
	assert.Equal(t, int64(firstWriteback-1), wb.pending)
	wb.add(1, 0, 1)
	assert.Equal(t, int64(0), wb.lo[1])
	f, err := os.Create(t.TempDir() + "/vol")
	require.NoError(t, err)
	defer f.Close()
	_, err = f.Write(make([]byte, 8192))
	require.NoError(t, err)
	mem := vfs.NewMem()
	require.NoError(t, mem.MkdirAll("d", 0o755))
	mf, err := mem.Create("d/vol")
	require.NoError(t, err)
	wb.start([]vfs.File{f, mf})
	assert.Equal(t, []int64{0, 0}, wb.lo)
	assert.Equal(t, []int64{0, 0}, wb.hi)
	assert.Zero(t, wb.pending)
}
