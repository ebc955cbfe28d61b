package delta

import (
	"context"
	"flag"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var trackerSeedFlag = flag.Uint64("delta.trackerseed", 0, "seed for the randomized tracker tests (0: a new one each run, logged)")

func trackerTestRand(t testing.TB) *rand.Rand {
	seed := *trackerSeedFlag
	if seed == 0 {
		seed = uint64(time.Now().UnixNano())
	}
	t.Logf("seed %d (rerun with -delta.trackerseed=%d)", seed, seed)
	return rand.New(rand.NewPCG(seed, seed^0x5eed))
}

func mustGeometry(t testing.TB, size int64, bs int) Geometry {
	g, err := NewGeometry(size, bs)
	require.NoError(t, err)
	return g
}

func setOf(n int64, members ...int64) *Set {
	s := NewSet(n)
	for _, m := range members {
		s.Add(m)
	}
	return s
}

func members(s *Set) []int64 {
	out := []int64{}
	for i := range s.All() {
		out = append(out, i)
	}
	return out
}

func pageList(m PageMask, pages int) []int {
	out := []int{}
	for p := range m.All(pages) {
		out = append(out, p)
	}
	return out
}

func TestMarkExactBlocksAndPages(t *testing.T) {
	// 1 MiB + 1000 bytes in 64 KiB blocks: 17 blocks, the last one short,
	// ending in a partial page.
	const size = 1<<20 + 1000
	type mark struct{ off, n int64 }
	cases := []struct {
		name   string
		marks  []mark
		blocks []int64
		pages  map[int64][]int // block → dirty pages; absent = whole block
		bytes  int64
	}{
		{name: "one page", marks: []mark{{0, 4096}}, blocks: []int64{0},
			pages: map[int64][]int{0: {0}}, bytes: 4096},
		{name: "one byte", marks: []mark{{70000, 1}}, blocks: []int64{1},
			pages: map[int64][]int{1: {1}}, bytes: 4096},
		{name: "unaligned across pages", marks: []mark{{4095, 2}}, blocks: []int64{0},
			pages: map[int64][]int{0: {0, 1}}, bytes: 8192},
		{name: "across blocks", marks: []mark{{65536 - 4096, 8192}}, blocks: []int64{0, 1},
			pages: map[int64][]int{0: {15}, 1: {0}}, bytes: 8192},
		{name: "whole block", marks: []mark{{2 * 65536, 65536}}, blocks: []int64{2}, bytes: 65536},
		{name: "short last block", marks: []mark{{size - 10, 10}}, blocks: []int64{16},
			pages: nil, bytes: 1000},
		{name: "zero length", marks: []mark{{100, 0}}, blocks: []int64{}, bytes: 0},
		{name: "overlapping marks", marks: []mark{{0, 8192}, {4096, 8192}}, blocks: []int64{0},
			pages: map[int64][]int{0: {0, 1, 2}}, bytes: 3 * 4096},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			g := mustGeometry(t, size, 0)
			tr, err := NewTracker([]Geometry{g})
			require.NoError(t, err)
			defer tr.Close()
			for _, m := range tc.marks {
				require.NoError(t, tr.Mark(0, m.off, m.n))
			}
			d, err := tr.Dirty(0)
			require.NoError(t, err)
			assert.Equal(t, tc.blocks, members(d))
			for _, b := range tc.blocks {
				m, err := tr.DirtyPages(0, b, nil)
				require.NoError(t, err)
				want, partial := tc.pages[b]
				if !partial {
					assert.Nil(t, m, "block %d should be whole", b)
					continue
				}
				assert.Equal(t, want, pageList(m, g.BlockPages(b)), "block %d", b)
			}
			st := tr.Pending()
			assert.Equal(t, int64(len(tc.blocks)), st.Blocks)
			assert.Equal(t, tc.bytes, st.Bytes)
		})
	}
}

func TestMarkRejectsOutOfRange(t *testing.T) {
	g := mustGeometry(t, 1<<20, 0)
	tr, err := NewTracker([]Geometry{g, g})
	require.NoError(t, err)
	defer tr.Close()
	for _, c := range []struct {
		vol    int
		off, n int64
	}{
		{2, 0, 1}, {-1, 0, 1}, {0, -1, 1}, {0, 0, -1}, {0, 1 << 20, 1}, {0, 1<<20 - 1, 2}, {0, 1<<20 + 1, 0},
		{0, 1, 1<<63 - 1},
	} {
		err := tr.Mark(c.vol, c.off, c.n)
		assert.ErrorIs(t, err, ErrGeometry, "%+v", c)
		err = tr.BeginWrite(c.vol, c.off, c.n)
		assert.ErrorIs(t, err, ErrGeometry, "%+v", c)
	}
	assert.Equal(t, DirtyStats{}, tr.Pending())
	// The gate is not held after a refused BeginWrite: Freeze goes through.
	f, err := tr.Freeze(context.Background())
	require.NoError(t, err)
	require.NoError(t, f.Commit(context.Background()))
}

func TestNewTrackerRejects(t *testing.T) {
	_, err := NewTracker(nil)
	assert.ErrorIs(t, err, ErrGeometry)
	_, err = NewTracker([]Geometry{{Size: 1 << 20, BlockSize: 3000}})
	assert.ErrorIs(t, err, ErrGeometry)
	g := mustGeometry(t, 1<<20, 0)
	_, err = NewTracker([]Geometry{g}, WithCaptureMemory(-1))
	assert.ErrorIs(t, err, ErrLimit)
	_, err = NewTracker([]Geometry{g}, WithExtentBlocks(3))
	assert.ErrorIs(t, err, ErrLimit)
	_, err = NewTracker([]Geometry{g}, WithFreezeClock(nil))
	assert.Error(t, err)
}

// pageModel is the reference: the set of dirty pages of each volume.
type pageModel []map[int64]bool

func (m pageModel) mark(g Geometry, vol int, off, n int64) {
	for p := off / PageSize; p <= (off+n-1)/PageSize; p++ {
		m[vol][p] = true
	}
}

func (m pageModel) merge(o pageModel) {
	for vol := range m {
		for p := range o[vol] {
			m[vol][p] = true
		}
	}
}

// checkSource compares a frozen set (or the tracker's current one) with the
// model, block by block and page by page.
func checkModel(t *testing.T, geoms []Geometry, model pageModel, blocks func(vol int) *Set,
	pages func(vol int, b int64) PageMask) {
	t.Helper()
	for vol, g := range geoms {
		ppb := int64(g.PagesPerBlock())
		want := NewSet(g.Blocks())
		for p := range model[vol] {
			want.Add(p / ppb)
		}
		got := blocks(vol)
		require.True(t, want.Equal(got), "volume %d blocks: want %v got %v", vol, members(want), members(got))
		for b := range want.All() {
			m := pages(vol, b)
			for p := int64(0); p < int64(g.BlockPages(b)); p++ {
				if model[vol][b*ppb+p] != m.Has(int(p)) {
					t.Fatalf("volume %d block %d page %d: model %v, tracker %v", vol, b, p, model[vol][b*ppb+p], m.Has(int(p)))
				}
			}
		}
	}
}

func TestTrackerAgainstModel(t *testing.T) {
	rng := trackerTestRand(t)
	geoms := []Geometry{
		mustGeometry(t, 8<<20+12345, 64<<10),
		mustGeometry(t, 3<<20, 4<<10),
		mustGeometry(t, 64<<20, 4<<20),
	}
	tr, err := NewTracker(geoms)
	require.NoError(t, err)
	defer tr.Close()
	newModel := func() pageModel {
		m := make(pageModel, len(geoms))
		for i := range m {
			m[i] = map[int64]bool{}
		}
		return m
	}
	cur := newModel()
	ctx := context.Background()
	for round := range 20 * trackerScale {
		for range 1 + rng.IntN(200) {
			vol := rng.IntN(len(geoms))
			g := geoms[vol]
			off := rng.Int64N(g.Size)
			n := 1 + rng.Int64N(min(g.Size-off, int64(3*g.BlockSize)))
			if rng.IntN(4) == 0 {
				n = 1 + rng.Int64N(min(g.Size-off, 3*PageSize))
			}
			require.NoError(t, tr.Mark(vol, off, n))
			cur.mark(g, vol, off, n)
		}
		checkModel(t, geoms, cur,
			func(vol int) *Set { s, err := tr.Dirty(vol); require.NoError(t, err); return s },
			func(vol int, b int64) PageMask {
				m, err := tr.DirtyPages(vol, b, nil)
				require.NoError(t, err)
				return m
			})

		f, err := tr.Freeze(ctx)
		require.NoError(t, err)
		assert.Equal(t, uint64(round+1), f.Sequence())
		frozen := cur
		cur = newModel()
		var dst PageMask
		checkModel(t, geoms, frozen, f.Blocks, func(vol int, b int64) PageMask {
			dst = f.Pages(vol, b, dst)
			return dst
		})
		var wantPages int64
		for _, m := range frozen {
			wantPages += int64(len(m))
		}
		assert.Equal(t, wantPages, f.Dirty().Pages)
		// Marks after the freeze go to the new generation only.
		vol := rng.IntN(len(geoms))
		require.NoError(t, tr.Mark(vol, 0, 1))
		cur.mark(geoms[vol], vol, 0, 1)
		checkModel(t, geoms, frozen, f.Blocks, func(vol int, b int64) PageMask {
			dst = f.Pages(vol, b, dst)
			return dst
		})

		if rng.IntN(2) == 0 {
			require.NoError(t, f.Commit(ctx))
		} else {
			require.NoError(t, f.Restore())
			cur.merge(frozen)
		}
	}
}

func TestFreezeRestoreCommitErrors(t *testing.T) {
	g := mustGeometry(t, 1<<20, 0)
	tr, err := NewTracker([]Geometry{g})
	require.NoError(t, err)
	ctx := context.Background()
	require.NoError(t, tr.Mark(0, 0, 100))
	f, err := tr.Freeze(ctx)
	require.NoError(t, err)
	_, err = tr.Freeze(ctx)
	assert.ErrorIs(t, err, ErrFreezeOutstanding)
	require.NoError(t, f.Commit(ctx))
	assert.ErrorIs(t, f.Commit(ctx), ErrFrozenDone)
	assert.ErrorIs(t, f.Restore(), ErrFrozenDone)
	assert.ErrorIs(t, f.ReadBlock(0, 0, make([]byte, g.BlockSize)), ErrFrozenDone)
	d, _ := tr.Dirty(0)
	assert.True(t, d.Empty(), "committed blocks must not come back")

	require.NoError(t, tr.Mark(0, 70000, 1))
	f2, err := tr.Freeze(ctx)
	require.NoError(t, err)
	require.NoError(t, tr.Restore(f2))
	assert.ErrorIs(t, tr.Restore(f2), ErrFrozenDone)
	assert.ErrorIs(t, f2.Commit(ctx), ErrFrozenDone)
	d, _ = tr.Dirty(0)
	assert.Equal(t, []int64{1}, members(d), "a second Restore must not double-merge or lose")

	other, err := NewTracker([]Geometry{g})
	require.NoError(t, err)
	f3, err := other.Freeze(ctx)
	require.NoError(t, err)
	assert.ErrorIs(t, tr.Restore(f3), ErrMismatch)
	require.NoError(t, f3.Commit(ctx))
	require.NoError(t, other.Close())

	require.NoError(t, tr.Close())
	require.NoError(t, tr.Close(), "Close is idempotent")
	assert.ErrorIs(t, tr.Mark(0, 0, 1), ErrClosed)
	_, err = tr.Freeze(ctx)
	assert.ErrorIs(t, err, ErrClosed)
}

func TestFreezeContextAndQuiesce(t *testing.T) {
	g := mustGeometry(t, 1<<20, 0)
	ctx := context.Background()

	t.Run("cancelled before", func(t *testing.T) {
		tr, err := NewTracker([]Geometry{g})
		require.NoError(t, err)
		defer tr.Close()
		require.NoError(t, tr.Mark(0, 0, 1))
		cctx, cancel := context.WithCancel(ctx)
		cancel()
		_, err = tr.Freeze(cctx)
		assert.ErrorIs(t, err, context.Canceled)
		d, _ := tr.Dirty(0)
		assert.Equal(t, []int64{0}, members(d), "a cancelled freeze changes nothing")
		f, err := tr.Freeze(ctx)
		require.NoError(t, err, "no Frozen is left outstanding")
		assert.Equal(t, []int64{0}, members(f.Blocks(0)))
		assert.False(t, f.AppConsistent())
		require.NoError(t, f.Commit(ctx))
	})

	t.Run("cancelled during quiesce", func(t *testing.T) {
		cctx, cancel := context.WithCancel(ctx)
		resumed := 0
		tr, err := NewTracker([]Geometry{g}, WithQuiesce(func(ctx context.Context) (func(), error) {
			cancel()
			return func() { resumed++ }, nil
		}))
		require.NoError(t, err)
		defer tr.Close()
		require.NoError(t, tr.Mark(0, 0, 1))
		_, err = tr.Freeze(cctx)
		assert.ErrorIs(t, err, context.Canceled)
		assert.Equal(t, 1, resumed, "resume runs even when the freeze is abandoned")
		d, _ := tr.Dirty(0)
		assert.Equal(t, []int64{0}, members(d))
	})

	t.Run("quiesce error", func(t *testing.T) {
		tr, err := NewTracker([]Geometry{g}, WithQuiesce(func(ctx context.Context) (func(), error) {
			return nil, errInjected
		}))
		require.NoError(t, err)
		defer tr.Close()
		_, err = tr.Freeze(ctx)
		assert.ErrorIs(t, err, errInjected)
	})

	t.Run("app-consistent and clock", func(t *testing.T) {
		at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
		var order []string
		tr, err := NewTracker([]Geometry{g},
			WithFreezeClock(func() time.Time { order = append(order, "freeze"); return at }),
			WithQuiesce(func(ctx context.Context) (func(), error) {
				order = append(order, "quiesce")
				return func() { order = append(order, "resume") }, nil
			}))
		require.NoError(t, err)
		defer tr.Close()
		f, err := tr.Freeze(ctx)
		require.NoError(t, err)
		assert.True(t, f.AppConsistent())
		assert.Equal(t, at, f.Time())
		assert.Equal(t, []string{"quiesce", "freeze", "resume"}, order)
		require.NoError(t, f.Commit(ctx))
	})
}

func TestRestoreLosesNothing(t *testing.T) {
	g := mustGeometry(t, 4<<20, 0)
	tr, err := NewTracker([]Geometry{g, g})
	require.NoError(t, err)
	defer tr.Close()
	ctx := context.Background()
	require.NoError(t, tr.Mark(0, 0, 4096))      // block 0 page 0
	require.NoError(t, tr.Mark(1, 65536*3, 100)) // volume 1 block 3 page 0
	f, err := tr.Freeze(ctx)
	require.NoError(t, err)
	require.NoError(t, tr.Mark(0, 8192, 4096)) // block 0 page 2, after the freeze
	require.NoError(t, tr.Mark(0, 65536, 65536))
	require.NoError(t, f.Restore())

	d0, _ := tr.Dirty(0)
	d1, _ := tr.Dirty(1)
	assert.Equal(t, []int64{0, 1}, members(d0))
	assert.Equal(t, []int64{3}, members(d1))
	m, _ := tr.DirtyPages(0, 0, nil)
	assert.Equal(t, []int{0, 2}, pageList(m, 16))
	m, _ = tr.DirtyPages(0, 1, nil)
	assert.Nil(t, m)
	m, _ = tr.DirtyPages(1, 3, nil)
	assert.Equal(t, []int{0}, pageList(m, 16))

	// The next freeze carries the restored set.
	f2, err := tr.Freeze(ctx)
	require.NoError(t, err)
	assert.Equal(t, []int64{0, 1}, members(f2.Blocks(0)))
	assert.Equal(t, []int64{3}, members(f2.Blocks(1)))
	assert.Equal(t, DirtyStats{Blocks: 3, Pages: 2 + 16 + 1, Bytes: 19 * 4096}, f2.Dirty())
	assert.Equal(t, DirtyStats{Blocks: 1, Pages: 1, Bytes: 4096}, f2.VolumeDirty(1))
	require.NoError(t, f2.Commit(ctx))
}

// TestMarkConcurrentWithFreeze has many goroutines marking while the test
// freezes again and again: every page marked must be in exactly the union
// of the frozen sets and the current generation.
func TestMarkConcurrentWithFreeze(t *testing.T) {
	rng := trackerTestRand(t)
	g := mustGeometry(t, 64<<20, 0)
	geoms := []Geometry{g, g}
	tr, err := NewTracker(geoms)
	require.NoError(t, err)
	defer tr.Close()
	const workers = 8
	perWorker := 20000 * trackerScale
	marked := make([][]map[int64]bool, workers)
	seeds := make([]uint64, workers)
	for i := range seeds {
		seeds[i] = rng.Uint64()
	}
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for w := range workers {
		marked[w] = []map[int64]bool{{}, {}}
		wg.Go(func() {
			r := rand.New(rand.NewPCG(seeds[w], 1))
			for range perWorker {
				vol := r.IntN(2)
				p := r.Int64N(g.Size / PageSize)
				if err := tr.Mark(vol, p*PageSize, PageSize); err != nil {
					t.Error(err)
					return
				}
				marked[w][vol][p] = true
			}
		})
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	got := []map[int64]bool{{}, {}}
	collect := func(pages func(vol int, b int64) PageMask, blocks func(vol int) *Set) {
		for vol := range geoms {
			for b := range blocks(vol).All() {
				for p := range pages(vol, b).All(g.BlockPages(b)) {
					got[vol][b*int64(g.PagesPerBlock())+int64(p)] = true
				}
			}
		}
	}
	ctx := context.Background()
	freezes := 0
loop:
	for {
		select {
		case <-done:
			break loop
		default:
		}
		f, err := tr.Freeze(ctx)
		require.NoError(t, err)
		freezes++
		collect(func(vol int, b int64) PageMask { return f.Pages(vol, b, nil) }, f.Blocks)
		require.NoError(t, f.Commit(ctx))
	}
	close(stop)
	collect(func(vol int, b int64) PageMask { m, _ := tr.DirtyPages(vol, b, nil); return m },
		func(vol int) *Set { s, _ := tr.Dirty(vol); return s })
	want := []map[int64]bool{{}, {}}
	for w := range workers {
		for vol := range 2 {
			for p := range marked[w][vol] {
				want[vol][p] = true
			}
		}
	}
	t.Logf("%d freezes", freezes)
	for vol := range 2 {
		assert.Equal(t, len(want[vol]), len(got[vol]), "volume %d", vol)
		for p := range want[vol] {
			if !got[vol][p] {
				t.Fatalf("volume %d page %d marked but lost", vol, p)
			}
		}
	}
}

// TestMarkRacingFreeze replays the race Mark's re-check exists for: a Mark
// that loaded the state just before a Freeze swapped it must end up in the
// new generation too, or the page would be lost once the Frozen commits.
func TestMarkRacingFreeze(t *testing.T) {
	g := mustGeometry(t, 1<<20, 0)
	ctx := context.Background()
	for _, persistent := range []bool{false, true} {
		var tr *Tracker
		var err error
		file := newCrashFile(nil)
		if persistent {
			tr, err = CreateTrackerFile(file, []Geometry{g})
		} else {
			tr, err = NewTracker([]Geometry{g})
		}
		require.NoError(t, err)
		stale := tr.state.Load() // the Mark loads the state…
		f, err := tr.Freeze(ctx) // …a Freeze swaps it…
		require.NoError(t, err)
		require.NoError(t, tr.markFrom(stale, 0, 3*PageSize, 1)) // …the Mark goes on.
		require.NoError(t, f.Commit(ctx))
		d, err := tr.Dirty(0)
		require.NoError(t, err)
		assert.Equal(t, []int64{0}, members(d), "persistent %v", persistent)
		m, err := tr.DirtyPages(0, 0, nil)
		require.NoError(t, err)
		assert.Equal(t, []int{3}, pageList(m, 16))

		// The same across a commit's new log epoch.
		if persistent {
			f, err = tr.Freeze(ctx)
			require.NoError(t, err)
			stale = tr.state.Load()
			require.NoError(t, f.Commit(ctx)) // swaps the epoch
			require.NoError(t, tr.markFrom(stale, 0, 5*65536, 1))
			assert.True(t, tr.state.Load().log.covers(0, 5*65536, 1), "the extent is logged in the new epoch")
			// …and durable before the Mark returned: a crash now keeps it.
			file.mu.Lock()
			synced := append([]byte(nil), file.durable...)
			file.mu.Unlock()
			rs, err := readState(newCrashFile(synced), []Geometry{g})
			require.NoError(t, err)
			assert.True(t, rs.sets[0].Contains(5), "block 5 survives a crash")
		}
		require.NoError(t, tr.Close())
	}
}
