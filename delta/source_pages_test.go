package delta

import (
	"bytes"
	"context"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// readLog is a volume that records every read: offset and length.
type readLog struct {
	*memVolume
	mu    sync.Mutex
	reads [][2]int64
}

func (v *readLog) ReadAt(p []byte, off int64) (int, error) {
	v.mu.Lock()
	v.reads = append(v.reads, [2]int64{off, int64(len(p))})
	v.mu.Unlock()
	return v.memVolume.ReadAt(p, off)
}

func (v *readLog) take() [][2]int64 {
	v.mu.Lock()
	defer v.mu.Unlock()
	r := v.reads
	v.reads = nil
	return r
}

// hidePages is a Source without the page-reading capability.
type hidePages struct{ Source }

// pagedFrozen returns a tracker over a random 1 MiB volume in 64 KiB
// blocks, with pages 0, 3, 4, 5 and 15 of block 1 and page 7 of block 2
// written (one byte each) and then frozen.
func pagedFrozen(t *testing.T) (*Tracker, *TrackedVolume, *readLog, *Frozen) {
	t.Helper()
	rng := trackerTestRand(t)
	g := mustGeometry(t, 1<<20, 64<<10)
	tr, err := NewTracker([]Geometry{g})
	require.NoError(t, err)
	t.Cleanup(func() { tr.Close() })
	vol := &readLog{memVolume: newMemVolume(g.Size)}
	copy(vol.data, randomBytes(rng, g.Size))
	tv, err := tr.Volume(0, vol)
	require.NoError(t, err)
	for _, pg := range []int64{16 + 0, 16 + 3, 16 + 4, 16 + 5, 16 + 15, 32 + 7} {
		_, err := tv.WriteAt([]byte{0xA5}, pg*PageSize+9)
		require.NoError(t, err)
	}
	f, err := tr.Freeze(context.Background())
	require.NoError(t, err)
	vol.take()
	return tr, tv, vol, f
}

// A Frozen reads only the written pages of a block, one read per run of
// adjacent pages, into their places; the rest of the buffer is untouched.
func TestFrozenReadSelectedReadsOnlyThePages(t *testing.T) {
	_, _, vol, f := pagedFrozen(t)
	mask := f.Pages(0, 1, nil)
	require.Equal(t, 5, mask.Count(16))
	p := bytes.Repeat([]byte{0xEE}, 64<<10)
	require.NoError(t, f.readSelected(0, 1, mask, p))
	assert.Equal(t, [][2]int64{
		{64<<10 + 0*PageSize, PageSize},
		{64<<10 + 3*PageSize, 3 * PageSize},
		{64<<10 + 15*PageSize, PageSize},
	}, vol.take())
	want := bytes.Repeat([]byte{0xEE}, 64<<10)
	for _, pg := range []int{0, 3, 4, 5, 15} {
		copy(want[pg*PageSize:(pg+1)*PageSize], vol.data[64<<10+pg*PageSize:])
	}
	assert.Equal(t, want, p)
}

// Reading some pages of a block captures the block as ReadBlock does: a
// write after it makes a second read fail with ErrCaptureExpired, and a
// block saved by a write before the read still gives its content as of
// the freeze.
func TestFrozenReadSelectedCaptureRules(t *testing.T) {
	_, tv, vol, f := pagedFrozen(t)
	frozen := vol.snapshot()

	p := make([]byte, 64<<10)
	require.NoError(t, f.readSelected(0, 1, f.Pages(0, 1, nil), p))
	_, err := tv.WriteAt([]byte("after the read"), 64<<10+3*PageSize)
	require.NoError(t, err)
	assert.ErrorIs(t, f.ReadBlock(0, 1, p), ErrCaptureExpired)
	assert.ErrorIs(t, f.readSelected(0, 1, f.Pages(0, 1, nil), p), ErrCaptureExpired)

	_, err = tv.WriteAt([]byte("before the read"), 2*64<<10+7*PageSize)
	require.NoError(t, err)
	clear(p)
	require.NoError(t, f.readSelected(0, 2, f.Pages(0, 2, nil), p))
	assert.Equal(t, frozen[2*64<<10:3*64<<10], p, "a saved block comes whole, as of the freeze")

	assert.ErrorIs(t, f.readSelected(0, 3, PageMask{1}, p), ErrNotFrozen)
	assert.ErrorIs(t, f.readSelected(0, 1, PageMask{1}, p[:4096]), ErrGeometry)
	require.NoError(t, f.Commit(context.Background()))
	assert.ErrorIs(t, f.readSelected(0, 2, PageMask{1}, p), ErrFrozenDone)
}

// The encoder's stream from a Frozen is the same byte for byte whether it
// reads the written pages alone or whole blocks; only the bytes read
// differ: the five and one written pages instead of two blocks.
func TestEncodeReadsOnlyWrittenPages(t *testing.T) {
	_, _, vol, f := pagedFrozen(t)
	h := testHeader(f.Geometries())
	whole, wst := encodeSource(t, h, hidePages{f})
	var wholeBytes int64
	for _, r := range vol.take() {
		wholeBytes += r[1]
	}
	paged, pst := encodeSource(t, h, f)
	var pagedBytes int64
	for _, r := range vol.take() {
		pagedBytes += r[1]
	}
	assert.Equal(t, whole, paged)
	assert.Equal(t, wst, pst)
	assert.Equal(t, int64(2*64<<10), wholeBytes)
	assert.Equal(t, int64(6*PageSize), pagedBytes)
	assert.Equal(t, int64(2), pst.PageRecords)
}

// BenchmarkEncodeWrittenPages encodes a Frozen of 163 single-page writes
// spread over a 256 MiB file in 64 KiB blocks (as in the tracked cycle of
// issue 8, on a smaller volume), reading whole blocks ("blocks") or the
// written pages alone ("pages").
func BenchmarkEncodeWrittenPages(b *testing.B) {
	g := mustGeometry(b, 256<<20, 64<<10)
	f, err := os.Create(filepath.Join(b.TempDir(), "disk.img"))
	require.NoError(b, err)
	defer f.Close()
	fill := randomBytes(rand.New(rand.NewPCG(7, 7)), 1<<20)
	for off := int64(0); off < g.Size; off += int64(len(fill)) {
		_, err := f.WriteAt(fill, off)
		require.NoError(b, err)
	}
	for _, mode := range []string{"blocks", "pages"} {
		b.Run(mode, func(b *testing.B) {
			tr, err := NewTracker([]Geometry{g})
			require.NoError(b, err)
			defer tr.Close()
			tv, err := tr.Volume(0, f)
			require.NoError(b, err)
			rng := rand.New(rand.NewPCG(8, 8))
			page := make([]byte, PageSize)
			h := testHeader([]Geometry{g})
			for b.Loop() {
				b.StopTimer()
				for _, blk := range rng.Perm(int(g.Blocks()))[:163] {
					copy(page, randomBytes(rng, PageSize/2)) // half random, half as before: compressible
					_, err := tv.WriteAt(page, int64(blk)*int64(g.BlockSize)+int64(rng.IntN(16))*PageSize)
					require.NoError(b, err)
				}
				fz, err := tr.Freeze(context.Background())
				require.NoError(b, err)
				var src Source = fz
				if mode == "blocks" {
					src = hidePages{fz}
				}
				b.StartTimer()
				enc, err := NewEncoder(io.Discard, h)
				require.NoError(b, err)
				_, err = enc.Encode(context.Background(), src)
				require.NoError(b, err)
				b.StopTimer()
				require.NoError(b, fz.Commit(context.Background()))
				b.StartTimer()
			}
		})
	}
}
