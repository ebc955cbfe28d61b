package delta

import (
	"context"
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// reopenSynced opens a tracker on what file has synced so far, as a crash
// now would leave it, and returns its dirty sets.
func reopenSynced(t *testing.T, file *crashFile, geoms []Geometry) [][]int64 {
	t.Helper()
	tr, err := OpenTrackerFile(newCrashFile(file.synced()), geoms)
	require.NoError(t, err)
	defer func() { require.NoError(t, tr.Close()) }()
	var out [][]int64
	for _, s := range dirtySets(t, tr) {
		out = append(out, members(s))
	}
	return out
}

// TestCommitSyncsOnce counts the state file's syncs: a Commit costs one, a
// Mark into an extent the commit carried none, a Mark into a cold extent
// one (which also makes the commit's superblock durable), Close two. A
// crash between the commit and the next sync recovers the previous
// checkpoint, in which the committed block is still dirty.
func TestCommitSyncsOnce(t *testing.T) {
	geoms := stateTestGeoms(t)
	file := newCrashFile(nil)
	ctx := context.Background()
	tr, err := CreateTrackerFile(file, geoms, WithExtentBlocks(4))
	require.NoError(t, err)
	syncs := func(fn func()) int {
		before := file.syncCount()
		fn()
		return file.syncCount() - before
	}
	assert.Equal(t, 1, syncs(func() { require.NoError(t, tr.Mark(0, 0, 1)) }), "first mark into extent 0")
	f, err := tr.Freeze(ctx)
	require.NoError(t, err)
	assert.Equal(t, 1, syncs(func() { require.NoError(t, f.Commit(ctx)) }), "commit")
	// Not durable yet: the previous checkpoint (empty) and its log
	// (extent 0) are in force.
	assert.Equal(t, [][]int64{{0, 1, 2, 3}, {}}, reopenSynced(t, file, geoms))

	assert.Equal(t, 0, syncs(func() { require.NoError(t, tr.Mark(0, 1<<16, 1)) }), "mark into the carried extent 0")
	assert.Equal(t, 1, syncs(func() { require.NoError(t, tr.Mark(0, 8<<16, 1)) }), "first mark into extent 2")
	// The commit's superblock is durable now: its log has the carried
	// extent 0 and extent 2.
	assert.Equal(t, [][]int64{{0, 1, 2, 3, 8, 9, 10, 11}, {}}, reopenSynced(t, file, geoms))

	f, err = tr.Freeze(ctx)
	require.NoError(t, err)
	assert.Equal(t, 1, syncs(func() { require.NoError(t, f.Commit(ctx)) }), "second commit")
	assert.Equal(t, 0, syncs(func() { require.NoError(t, tr.Mark(0, 9<<16, 1)) }), "extent 2 was carried")
	f, err = tr.Freeze(ctx)
	require.NoError(t, err)
	// Nothing marked since: the commit carries extent 2 (block 9 is in the
	// Frozen) and extent 0 ages out.
	assert.Equal(t, 1, syncs(func() { require.NoError(t, f.Commit(ctx)) }), "third commit, previous superblock still pending")
	assert.Equal(t, 1, syncs(func() { require.NoError(t, tr.Mark(0, 0, 1)) }), "extent 0 aged out")
	assert.Equal(t, 2, syncs(func() { require.NoError(t, tr.Close()) }), "close")

	tr, err = OpenTrackerFile(newCrashFile(file.synced()), geoms)
	require.NoError(t, err)
	got := dirtySets(t, tr)
	assert.Equal(t, []int64{0}, members(got[0]), "clean close reopens exactly")
	assert.True(t, got[1].Empty())
	require.NoError(t, tr.Close())
}

// lazyOverlapScript lays the state file out (one-block extents) so that a
// lazy checkpoint lands at the front of the data area, right before the
// previous checkpoint's region, and the next Mark's log records would run
// over that region while the new superblock is not durable yet.
func lazyOverlapScript(geoms []Geometry) []crashStep {
	return []crashStep{
		{op: 0, vol: 0, off: 0, n: geoms[0].Size}, // 16 records
		{op: 1}, {op: 2}, // checkpoint 2 behind them, 16 carried
		{op: 0, vol: 1, off: 0, n: 1}, // makes checkpoint 2 durable
		{op: 1}, {op: 2},              // checkpoint 3 at the front, 1 carried
		{op: 0, vol: 1, off: int64(geoms[1].BlockSize), n: geoms[1].Size - int64(geoms[1].BlockSize)}, // 32 records
		{op: 1}, {op: 3},
		{op: 0, vol: 0, off: 5 << 16, n: 1},
	}
}

// TestLazyCheckpointLogOverPreviousRegion: records that would overwrite the
// previous checkpoint's region wait for a sync first (two syncs for that
// Mark), and a crash at any operation of the run loses nothing.
func TestLazyCheckpointLogOverPreviousRegion(t *testing.T) {
	geoms := stateTestGeoms(t)
	script := lazyOverlapScript(geoms)
	file := newCrashFile(nil)
	ctx := context.Background()
	tr, err := CreateTrackerFile(file, geoms, WithExtentBlocks(1))
	require.NoError(t, err)
	for i, st := range script[:6] {
		switch st.op {
		case 0:
			require.NoError(t, tr.Mark(st.vol, st.off, st.n), "step %d", i)
		case 1:
			f, err := tr.Freeze(ctx)
			require.NoError(t, err)
			require.NoError(t, f.Commit(ctx))
		}
	}
	require.True(t, tr.pers.sbPending)
	require.Equal(t, int64(stateDataStart), tr.pers.blobOff, "checkpoint 3 at the front")
	last := script[6]
	require.Greater(t, tr.pers.logPos+32*stateRecordSize, tr.pers.prevBlobOff, "the records reach the previous region")
	before := file.syncCount()
	require.NoError(t, tr.Mark(last.vol, last.off, last.n))
	assert.Equal(t, 2, file.syncCount()-before, "a sync before the records, one after")
	assert.False(t, tr.pers.sbPending)
	require.NoError(t, tr.Close())

	total := crashLoop(t, geoms, script, 1, "overlap")
	t.Logf("%d state file operations, each crashed and failed", total)
}

// TestTrackerCrashLoopCommits is the crash loop on commit-heavy scripts
// with one-block extents, where lazy checkpoints follow each other with
// and without syncs between them and carry many extents.
func TestTrackerCrashLoopCommits(t *testing.T) {
	rng := trackerTestRand(t)
	geoms := stateTestGeoms(t)
	for round := range trackerScale {
		var script []crashStep
		for _, st := range makeCrashScript(rng, geoms, 50) {
			script = append(script, st)
			if st.op == 1 && rng.IntN(2) == 0 {
				script = append(script, crashStep{op: 2})
			}
		}
		total := crashLoop(t, geoms, script, 1, fmt.Sprintf("commits round %d", round))
		t.Logf("round %d: %d state file operations, each crashed and failed", round, total)
	}
}

// TestLazyCheckpointsBackToBack: a commit right after another, with no sync
// between them, must not write over the region of the checkpoint before
// the previous one, which is still in force on disk until the first
// commit's superblock is durable.
func TestLazyCheckpointsBackToBack(t *testing.T) {
	geoms := stateTestGeoms(t)
	script := []crashStep{
		{op: 0, vol: 0, off: 0, n: geoms[0].Size}, // 16 records behind checkpoint 1
		{op: 1}, {op: 2}, // checkpoint 2 behind them, superblock pending
		{op: 0, vol: 0, off: 3 << 16, n: 1}, // carried extent: no sync
		{op: 1}, {op: 2},                    // checkpoint 3: the front would overwrite checkpoint 1
		{op: 0, vol: 0, off: 5 << 16, n: 1},
	}
	file := newCrashFile(nil)
	ctx := context.Background()
	tr, err := CreateTrackerFile(file, geoms, WithExtentBlocks(1))
	require.NoError(t, err)
	require.NoError(t, tr.Mark(0, 0, geoms[0].Size))
	for i := range 2 {
		if i == 1 {
			require.NoError(t, tr.Mark(0, 3<<16, 1))
			require.True(t, tr.pers.sbPending)
		}
		f, err := tr.Freeze(ctx)
		require.NoError(t, err)
		require.NoError(t, f.Commit(ctx))
	}
	assert.Greater(t, tr.pers.blobOff, tr.pers.prevEnd-1, "checkpoint 3 after checkpoint 2's region")
	require.NoError(t, tr.Close())

	for rep := range 4 * trackerScale {
		total := crashLoop(t, geoms, script, 1, fmt.Sprintf("back to back %d", rep))
		if rep == 0 {
			t.Logf("%d state file operations, each crashed and failed", total)
		}
	}
}
