package delta

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func stateTestGeoms(t testing.TB) []Geometry {
	return []Geometry{mustGeometry(t, 1<<20, 64<<10), mustGeometry(t, 512<<10+3000, 16<<10)}
}

func dirtySets(t testing.TB, tr *Tracker) []*Set {
	out := make([]*Set, len(tr.Geometries()))
	for vol := range out {
		s, err := tr.Dirty(vol)
		require.NoError(t, err)
		out[vol] = s
	}
	return out
}

func TestTrackerCleanCloseReopensExactly(t *testing.T) {
	geoms := stateTestGeoms(t)
	path := filepath.Join(t.TempDir(), "vm.track")
	ctx := context.Background()
	tr, err := CreateTracker(path, geoms, WithExtentBlocks(2))
	require.NoError(t, err)
	require.NoError(t, tr.Mark(0, 0, 1))
	require.NoError(t, tr.Mark(1, 40000, 70000))
	f, err := tr.Freeze(ctx)
	require.NoError(t, err)
	require.NoError(t, f.Commit(ctx))
	require.NoError(t, tr.Mark(0, 5<<16, 2<<16))
	f, err = tr.Freeze(ctx)
	require.NoError(t, err)
	require.NoError(t, tr.Mark(1, 0, 100))
	// Closed with a Frozen outstanding: its blocks stay dirty.
	require.NoError(t, tr.Close())
	assert.ErrorIs(t, f.Commit(ctx), ErrFrozenDone)

	tr, err = OpenTracker(path, geoms)
	require.NoError(t, err)
	got := dirtySets(t, tr)
	assert.Equal(t, []int64{5, 6}, members(got[0]))
	assert.Equal(t, []int64{0}, members(got[1]))

	// And again, now with nothing written in between.
	require.NoError(t, tr.Close())
	tr, err = OpenTracker(path, geoms)
	require.NoError(t, err)
	got = dirtySets(t, tr)
	assert.Equal(t, []int64{5, 6}, members(got[0]))
	assert.Equal(t, []int64{0}, members(got[1]))
	require.NoError(t, tr.Close())
}

// TestTrackerUncleanReopenMarksExtents: after a stop without Close, every
// block of every extent written since the last checkpoint is dirty.
func TestTrackerUncleanReopenMarksExtents(t *testing.T) {
	geoms := stateTestGeoms(t)
	file := newCrashFile(nil)
	ctx := context.Background()
	tr, err := CreateTrackerFile(file, geoms, WithExtentBlocks(4))
	require.NoError(t, err)
	require.NoError(t, tr.Mark(0, 0, 1)) // extent 0 of volume 0, committed below
	f, err := tr.Freeze(ctx)
	require.NoError(t, err)
	require.NoError(t, tr.Mark(0, 9<<16, 1)) // block 9: extent 2
	require.NoError(t, f.Commit(ctx))
	require.NoError(t, tr.Mark(1, 16<<10*13, 1)) // volume 1 block 13: extent 3
	require.NoError(t, tr.Mark(1, 16<<10*14, 1)) // same extent, no new record
	// Stop without Close: reopen what was synced.
	img := file.crashImage(rand.New(rand.NewPCG(1, 2)))
	tr2, err := OpenTrackerFile(newCrashFile(img), geoms, WithExtentBlocks(4))
	require.NoError(t, err)
	got := dirtySets(t, tr2)
	// Block 9 is in the checkpoint written by the commit; the commit
	// carried extents 0 and 2 (hot in the old epoch, holding the committed
	// block 0 and the dirty block 9) into the new epoch, so their blocks
	// 0..3 and 8..11 are dirty too. Volume 1's extent 3 is blocks 12..15.
	assert.Equal(t, []int64{0, 1, 2, 3, 8, 9, 10, 11}, members(got[0]))
	assert.Equal(t, []int64{12, 13, 14, 15}, members(got[1]))
	require.NoError(t, tr2.Close())
	require.NoError(t, tr.Close())
}

func TestOpenTrackerLost(t *testing.T) {
	geoms := stateTestGeoms(t)
	good := func(t *testing.T) []byte {
		file := newCrashFile(nil)
		tr, err := CreateTrackerFile(file, geoms)
		require.NoError(t, err)
		require.NoError(t, tr.Mark(0, 0, 1<<20))
		require.NoError(t, tr.Close())
		return file.content()
	}
	base := good(t)
	otherGeoms := []Geometry{geoms[0], mustGeometry(t, geoms[1].Size, 32<<10)}
	cases := []struct {
		name   string
		mutate func([]byte) []byte
		geoms  []Geometry
		is     error
	}{
		{name: "empty", mutate: func([]byte) []byte { return nil }, is: ErrCorrupt},
		{name: "truncated header", mutate: func(b []byte) []byte { return b[:700] }, is: ErrCorrupt},
		{name: "truncated data", mutate: func(b []byte) []byte { return b[:stateDataStart+3] }, is: ErrCorrupt},
		{name: "blob checksum", mutate: func(b []byte) []byte { b[inForce(t, b).blobOff+2] ^= 1; return b }, is: ErrCorrupt},
		{name: "blob cut", mutate: func(b []byte) []byte { return b[:inForce(t, b).blobOff+1] }, is: ErrCorrupt},
		{name: "both superblocks", mutate: func(b []byte) []byte { b[20] ^= 1; b[stateSlotSize+20] ^= 1; return b }, is: ErrCorrupt},
		{name: "other geometry", mutate: func(b []byte) []byte { return b }, geoms: otherGeoms, is: ErrMismatch},
		{name: "other volume count", mutate: func(b []byte) []byte { return b }, geoms: geoms[:1], is: ErrMismatch},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			img := tc.mutate(append([]byte(nil), base...))
			g := geoms
			if tc.geoms != nil {
				g = tc.geoms
			}
			file := newCrashFile(img)
			_, err := OpenTrackerFile(file, g)
			require.ErrorIs(t, err, ErrTrackingLost)
			assert.ErrorIs(t, err, tc.is)
			assert.Equal(t, img, file.content(), "a refused open changes nothing")
			// The contract: create afresh (then resynchronize).
			tr, err := CreateTrackerFile(file, g)
			require.NoError(t, err)
			for _, s := range dirtySets(t, tr) {
				assert.True(t, s.Empty())
			}
			require.NoError(t, tr.Close())
		})
	}

	t.Run("missing file", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "none.track")
		_, err := OpenTracker(path, geoms)
		require.ErrorIs(t, err, ErrTrackingLost)
		assert.ErrorIs(t, err, fs.ErrNotExist)
		tr, err := CreateTracker(path, geoms)
		require.NoError(t, err)
		require.NoError(t, tr.Close())
		_, err = os.Stat(path)
		require.NoError(t, err)
		tr, err = OpenTracker(path, geoms)
		require.NoError(t, err)
		require.NoError(t, tr.Close())
	})

	t.Run("one torn superblock", func(t *testing.T) {
		// The slot written last is torn: the other one is in force.
		img := append([]byte(nil), base...)
		img[inForce(t, img).seq%2*stateSlotSize+30] ^= 0xff
		tr, err := OpenTrackerFile(newCrashFile(img), geoms)
		require.NoError(t, err)
		got := dirtySets(t, tr)
		// The previous checkpoint was the one before the clean close: the
		// whole of volume 0 was logged hot in its epoch.
		assert.Equal(t, geoms[0].Blocks(), got[0].Count())
		require.NoError(t, tr.Close())
	})
}

// inForce returns the superblock in force in a state file image.
func inForce(t *testing.T, img []byte) superblock {
	var best superblock
	found := false
	for i := range 2 {
		sb, err := parseSuperblock(img[i*stateSlotSize:])
		if err == nil && (!found || sb.seq > best.seq) {
			best, found = sb, true
		}
	}
	require.True(t, found)
	return best
}

// crashScript is a seeded sequence of tracker operations.
type crashStep struct {
	op     int // 0 mark, 1 freeze, 2 commit, 3 restore
	vol    int
	off, n int64
}

func makeCrashScript(rng *rand.Rand, geoms []Geometry, steps int) []crashStep {
	var s []crashStep
	for range steps {
		switch r := rng.IntN(10); {
		case r < 6:
			vol := rng.IntN(len(geoms))
			off := rng.Int64N(geoms[vol].Size)
			n := 1 + rng.Int64N(min(geoms[vol].Size-off, int64(3*geoms[vol].BlockSize)))
			s = append(s, crashStep{op: 0, vol: vol, off: off, n: n})
		case r < 8:
			s = append(s, crashStep{op: 1})
		case r < 9:
			s = append(s, crashStep{op: 2})
		default:
			s = append(s, crashStep{op: 3})
		}
	}
	return s
}

type blockModel []map[int64]bool

func (m blockModel) add(geoms []Geometry, vol int, off, n int64) {
	first, last, _ := geoms[vol].Span(off, n)
	for b := first; b <= last; b++ {
		m[vol][b] = true
	}
}

// runCrashScript runs the script on a tracker over file, fails the file's
// operation failAt (counted from after creation), and returns the blocks
// that must survive (marked and not acknowledged) and whether everything
// succeeded including the final Close.
func runCrashScript(t *testing.T, geoms []Geometry, script []crashStep, file *crashFile, failAt int, failOnly bool) (blockModel, bool) {
	return runCrashScriptExtents(t, geoms, script, file, failAt, failOnly, 4)
}

// runCrashScriptExtents is runCrashScript with extents of eb blocks.
func runCrashScriptExtents(t *testing.T, geoms []Geometry, script []crashStep, file *crashFile, failAt int, failOnly bool, eb int) (blockModel, bool) {
	tr, err := CreateTrackerFile(file, geoms, WithExtentBlocks(eb))
	require.NoError(t, err)
	if failAt >= 0 {
		file.mu.Lock()
		file.failAt, file.failOnly = file.ops+failAt, failOnly
		file.mu.Unlock()
	}
	ctx := context.Background()
	cur := blockModel{{}, {}}
	frozen := blockModel{{}, {}}
	var f *Frozen
	clean := true
	for _, st := range script {
		switch st.op {
		case 0:
			if err := tr.Mark(st.vol, st.off, st.n); err == nil {
				cur.add(geoms, st.vol, st.off, st.n)
			} else {
				require.ErrorIs(t, err, errInjected)
				clean = false
			}
		case 1:
			if f != nil {
				continue
			}
			nf, err := tr.Freeze(ctx)
			if err != nil {
				require.ErrorIs(t, err, errInjected)
				clean = false
				continue
			}
			f, frozen, cur = nf, cur, blockModel{{}, {}}
		case 2:
			if f == nil {
				continue
			}
			if err := f.Commit(ctx); err != nil {
				require.ErrorIs(t, err, errInjected)
				clean = false
				// The replica acknowledged the set: the state on disk may
				// already say so even though Commit failed.
				frozen = blockModel{{}, {}}
				continue
			}
			f, frozen = nil, blockModel{{}, {}}
		case 3:
			if f == nil {
				continue
			}
			require.NoError(t, f.Restore())
			for vol := range frozen {
				for b := range frozen[vol] {
					cur[vol][b] = true
				}
			}
			f, frozen = nil, blockModel{{}, {}}
		}
	}
	if err := tr.Close(); err != nil {
		require.ErrorIs(t, err, errInjected)
		clean = false
	}
	for vol := range frozen {
		for b := range frozen[vol] {
			cur[vol][b] = true
		}
	}
	return cur, clean
}

// TestTrackerCrashLoop crashes (or fails) the state file at every write,
// truncate and sync of a scripted run, reopens what a disk could hold, and
// checks that every block marked and not acknowledged is dirty — exactly
// the saved set when the run closed cleanly.
func TestTrackerCrashLoop(t *testing.T) {
	rng := trackerTestRand(t)
	geoms := stateTestGeoms(t)
	for round := range 2 * trackerScale {
		script := makeCrashScript(rng, geoms, 60)
		total := crashLoop(t, geoms, script, 4, fmt.Sprintf("round %d", round))
		t.Logf("round %d: %d state file operations, each crashed and failed", round, total)
	}
}

// crashLoop runs script once to count the state file's operations, then
// once per operation with that operation crashing (and failing alone), and
// reopens three possible disk images of each run: every block marked and
// not acknowledged must be dirty, exactly the saved set after a clean
// close. It returns the operation count.
func crashLoop(t *testing.T, geoms []Geometry, script []crashStep, eb int, name string) int {
	dry := newCrashFile(nil)
	runCrashScriptExtents(t, geoms, script, dry, -1, false, eb)
	total := dry.operations()
	for _, failOnly := range []bool{false, true} {
		for n := 0; n <= total; n++ {
			file := newCrashFile(nil)
			want, clean := runCrashScriptExtents(t, geoms, script, file, n, failOnly, eb)
			for img := range 3 {
				image := file.crashImage(rand.New(rand.NewPCG(uint64(n), uint64(img))))
				tr, err := OpenTrackerFile(newCrashFile(image), geoms)
				require.NoError(t, err, "%s failOnly %v op %d image %d: tracking must survive", name, failOnly, n, img)
				got := dirtySets(t, tr)
				for vol := range want {
					for b := range want[vol] {
						if !got[vol].Contains(b) {
							t.Fatalf("%s failOnly %v op %d image %d: volume %d block %d lost", name, failOnly, n, img, vol, b)
						}
					}
					if clean {
						assert.Equal(t, int64(len(want[vol])), got[vol].Count(), "clean close reopens exactly")
					}
				}
				require.NoError(t, tr.Close())
			}
		}
	}
	return total
}

// TestPersistentMarksDuringCommits marks from several goroutines while
// cycles commit; after each commit, every block dirty in memory must be in
// the synced state: nothing may fall between a checkpoint and its epoch.
func TestPersistentMarksDuringCommits(t *testing.T) {
	rng := trackerTestRand(t)
	// Volume 1 is large and wholly dirty, so that each checkpoint spends a
	// while deriving its set after volume 0's: marks to volume 0 land in
	// that window, where a checkpoint that read the dirty set before
	// starting the new epoch would lose them.
	geoms := []Geometry{mustGeometry(t, 16<<20, 16<<10), mustGeometry(t, int64(trackerScale)<<28, 4<<10)}
	file := newCrashFile(nil)
	tr, err := CreateTrackerFile(file, geoms, WithExtentBlocks(8))
	require.NoError(t, err)
	require.NoError(t, tr.Mark(1, 0, geoms[1].Size))
	ctx := context.Background()
	var wg sync.WaitGroup
	// pause lets the check see only marks that returned: a bit of a Mark
	// still in flight is in Dirty before its extent is durable.
	var pause sync.RWMutex
	stop := make(chan struct{})
	for w := range 4 {
		seed := rng.Uint64()
		wg.Go(func() {
			r := rand.New(rand.NewPCG(seed, uint64(w)))
			for {
				select {
				case <-stop:
					return
				default:
				}
				pause.RLock()
				err := tr.Mark(0, r.Int64N(geoms[0].Size/PageSize)*PageSize, PageSize)
				pause.RUnlock()
				if err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	defer func() {
		close(stop)
		wg.Wait()
		require.NoError(t, tr.Close())
	}()
	for i := range 8 {
		f, err := tr.Freeze(ctx)
		require.NoError(t, err)
		require.NoError(t, f.Restore()) // volume 1 stays dirty
		f, err = tr.Freeze(ctx)
		require.NoError(t, err)
		require.NoError(t, tr.Mark(1, 0, geoms[1].Size))
		require.NoError(t, f.Commit(ctx))

		// Every mark that returned before this snapshot is durable by now.
		pause.Lock()
		want, err := tr.Dirty(0)
		require.NoError(t, err)
		file.mu.Lock()
		synced := append([]byte(nil), file.durable...)
		file.mu.Unlock()
		pause.Unlock()
		rs, err := readState(newCrashFile(synced), geoms)
		require.NoError(t, err)
		missing := want.Clone()
		require.NoError(t, missing.Subtract(rs.sets[0]))
		require.True(t, missing.Empty(), "commit %d: blocks lost: %v", i, members(missing))
		assert.Equal(t, geoms[1].Blocks(), rs.sets[1].Count())
	}
}

// TestStateFailureStopsMarks: once a superblock write failed, no Mark may
// succeed (the superblock in force is unknown) until the tracker reopens.
func TestStateFailureStopsMarks(t *testing.T) {
	geoms := stateTestGeoms(t)
	file := newCrashFile(nil)
	tr, err := CreateTrackerFile(file, geoms)
	require.NoError(t, err)
	ctx := context.Background()
	require.NoError(t, tr.Mark(0, 0, 1))
	f, err := tr.Freeze(ctx)
	require.NoError(t, err)
	// A commit is: blob write, sync, superblock write, sync, truncate.
	file.mu.Lock()
	file.failAt, file.failOnly = file.ops+2, true
	file.mu.Unlock()
	require.ErrorIs(t, f.Commit(ctx), errInjected)
	require.ErrorIs(t, tr.Mark(0, 1<<16, 1), errInjected)
	require.ErrorIs(t, tr.Mark(0, 0, 1), errInjected)
	// The Frozen is still outstanding and can go back.
	require.NoError(t, f.Restore())
	err = tr.Close()
	require.ErrorIs(t, err, errInjected)
	tr2, err := OpenTrackerFile(newCrashFile(file.content()), geoms)
	require.NoError(t, err)
	got := dirtySets(t, tr2)
	assert.True(t, got[0].Contains(0))
	require.NoError(t, tr2.Close())

	// A failed blob write is harmless: the old epoch goes on.
	file = newCrashFile(nil)
	tr, err = CreateTrackerFile(file, geoms)
	require.NoError(t, err)
	require.NoError(t, tr.Mark(0, 0, 1))
	f, err = tr.Freeze(ctx)
	require.NoError(t, err)
	file.mu.Lock()
	file.failAt, file.failOnly = file.ops, true
	file.mu.Unlock()
	require.ErrorIs(t, f.Commit(ctx), errInjected)
	require.NoError(t, tr.Mark(0, 3<<16, 1))
	require.NoError(t, f.Commit(ctx))
	require.NoError(t, tr.Close())
	tr2, err = OpenTrackerFile(newCrashFile(file.content()), geoms)
	require.NoError(t, err)
	assert.Equal(t, []int64{3}, members(dirtySets(t, tr2)[0]))
	require.NoError(t, tr2.Close())
}

func TestLogFailureFailsMarkThenRecovers(t *testing.T) {
	geoms := stateTestGeoms(t)
	file := newCrashFile(nil)
	tr, err := CreateTrackerFile(file, geoms)
	require.NoError(t, err)
	file.mu.Lock()
	file.failAt, file.failOnly = file.ops+1, true // the sync of the first record
	file.mu.Unlock()
	err = tr.Mark(0, 0, 1)
	require.ErrorIs(t, err, errInjected)
	d, _ := tr.Dirty(0)
	assert.True(t, d.Empty(), "a failed Mark marks nothing")
	require.NoError(t, tr.Mark(0, 0, 1))
	// Crash now: the retried record is durable.
	tr2, err := OpenTrackerFile(newCrashFile(file.crashImage(rand.New(rand.NewPCG(3, 4)))), geoms)
	require.NoError(t, err)
	assert.True(t, dirtySets(t, tr2)[0].Contains(0))
	require.NoError(t, tr2.Close())
	require.NoError(t, tr.Close())
	assert.True(t, errors.Is(tr.Mark(0, 0, 1), ErrClosed))
}

// failingReadFile is a StateFile whose reads fail.
type failingReadFile struct{ *crashFile }

func (failingReadFile) ReadAt([]byte, int64) (int, error) { return 0, errInjected }

func TestOpenTrackerReadErrorIsNotLost(t *testing.T) {
	geoms := stateTestGeoms(t)
	file := newCrashFile(nil)
	tr, err := CreateTrackerFile(file, geoms)
	require.NoError(t, err)
	require.NoError(t, tr.Close())
	_, err = OpenTrackerFile(failingReadFile{newCrashFile(file.content())}, geoms)
	require.ErrorIs(t, err, errInjected)
	assert.NotErrorIs(t, err, ErrTrackingLost, "an unreadable file is not a lost state")
}

// TestExtentSizeChangeAcrossOpen: recovery uses the extent size the file
// was written with; the reopened tracker logs with the new one.
func TestExtentSizeChangeAcrossOpen(t *testing.T) {
	geoms := stateTestGeoms(t)
	file := newCrashFile(nil)
	tr, err := CreateTrackerFile(file, geoms, WithExtentBlocks(4))
	require.NoError(t, err)
	require.NoError(t, tr.Mark(0, 5<<16, 1)) // block 5: extent 1 = blocks 4..7
	img := file.crashImage(rand.New(rand.NewPCG(5, 6)))
	require.NoError(t, tr.Close())

	file2 := newCrashFile(img)
	tr2, err := OpenTrackerFile(file2, geoms, WithExtentBlocks(1))
	require.NoError(t, err)
	assert.Equal(t, []int64{4, 5, 6, 7}, members(dirtySets(t, tr2)[0]))
	require.NoError(t, tr2.Mark(0, 13<<16, 1)) // one-block extent now
	tr3, err := OpenTrackerFile(newCrashFile(file2.crashImage(rand.New(rand.NewPCG(7, 8)))), geoms)
	require.NoError(t, err)
	assert.Equal(t, []int64{4, 5, 6, 7, 13}, members(dirtySets(t, tr3)[0]))
	require.NoError(t, tr3.Close())
	require.NoError(t, tr2.Close())
}

// TestGroupCommitConcurrentFirstWrites: many goroutines make first writes
// to distinct extents at once, one log write failing on the way; every Mark
// that returned nil must be in the state after a crash.
func TestGroupCommitConcurrentFirstWrites(t *testing.T) {
	geoms := []Geometry{mustGeometry(t, 64<<20, 4<<10)}
	file := newCrashFile(nil)
	tr, err := CreateTrackerFile(file, geoms, WithExtentBlocks(1))
	require.NoError(t, err)
	defer tr.Close()
	file.mu.Lock()
	file.failAt, file.failOnly = file.ops+7, true
	file.mu.Unlock()
	const workers, each = 8, 50
	ok := make([][]int64, workers)
	var failed atomic.Int64
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := range each {
				b := int64(w*each + i)
				if err := tr.Mark(0, b*4096, 1); err != nil {
					if !errors.Is(err, errInjected) {
						t.Error(err)
					}
					failed.Add(1)
					continue
				}
				ok[w] = append(ok[w], b)
			}
		})
	}
	wg.Wait()
	assert.Positive(t, failed.Load(), "the injected failure reached some Mark")
	tr2, err := OpenTrackerFile(newCrashFile(file.crashImage(rand.New(rand.NewPCG(9, 9)))), geoms)
	require.NoError(t, err)
	got := dirtySets(t, tr2)[0]
	for w := range workers {
		for _, b := range ok[w] {
			require.True(t, got.Contains(b), "block %d marked but not durable", b)
		}
	}
	require.NoError(t, tr2.Close())
}
