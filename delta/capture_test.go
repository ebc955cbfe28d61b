package delta

import (
	"context"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func randomBytes(rng *rand.Rand, n int64) []byte {
	b := make([]byte, (n+7)&^7)
	for i := 0; i < len(b); i += 8 {
		binary.LittleEndian.PutUint64(b[i:], rng.Uint64())
	}
	return b[:n]
}

// TestCaptureUnderWrites hammers the volumes with writers while a capture
// reads every frozen block, and compares the capture byte for byte with a
// snapshot taken at the freeze instant (inside the quiesce hook, with the
// writers paused). A tiny memory limit forces copy-before-write to spill.
func TestCaptureUnderWrites(t *testing.T) {
	for _, tc := range []struct {
		name   string
		memory int64
		repeat bool
	}{
		{"in memory", DefaultCaptureMemory, false},
		{"spilling", 3 * 64 << 10, false},
		{"all spilled", 0, false},
		{"repeatable", 5 * 64 << 10, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			testCaptureUnderWrites(t, tc.memory, tc.repeat)
		})
	}
}

func testCaptureUnderWrites(t *testing.T, memory int64, repeat bool) {
	rng := trackerTestRand(t)
	size := int64(1<<20) * trackerScale
	geoms := []Geometry{mustGeometry(t, size, 0), mustGeometry(t, size+5000, 16<<10)}
	vols := make([]*memVolume, len(geoms))
	var (
		pause sync.RWMutex
		snap  [][]byte
	)
	spill := t.TempDir()
	tr, err := NewTracker(geoms, WithCaptureMemory(memory), WithSpillDir(spill), WithRepeatableCapture(repeat),
		WithQuiesce(func(ctx context.Context) (func(), error) {
			pause.Lock()
			snap = make([][]byte, len(vols))
			for i, v := range vols {
				snap[i] = v.snapshot()
			}
			return pause.Unlock, nil
		}))
	require.NoError(t, err)
	defer tr.Close()
	tvs := make([]*TrackedVolume, len(geoms))
	for i, g := range geoms {
		vols[i] = newMemVolume(g.Size)
		copy(vols[i].data, randomBytes(rng, g.Size))
		tvs[i], err = tr.Volume(i, vols[i])
		require.NoError(t, err)
	}
	write := func(r *rand.Rand) {
		vol := r.IntN(len(tvs))
		g := geoms[vol]
		off := r.Int64N(g.Size)
		n := 1 + r.Int64N(min(g.Size-off, int64(2*g.BlockSize)))
		p := randomBytes(r, n)
		pause.RLock()
		defer pause.RUnlock()
		_, err := tvs[vol].WriteAt(p, off)
		if err != nil {
			t.Error(err)
		}
	}
	ctx := context.Background()
	for cycle := range 3 {
		// Dirty most of the volumes so the capture is large.
		for range 200 * trackerScale {
			write(rng)
		}
		f, err := tr.Freeze(ctx)
		require.NoError(t, err)
		require.True(t, f.AppConsistent())

		// Deterministic overwrites of frozen blocks force saves.
		forced := int64(0)
		for b := range f.Blocks(0).All() {
			if forced == 8 {
				break
			}
			off, _ := geoms[0].BlockBounds(b)
			_, err := tvs[0].WriteAt([]byte("overwritten after the freeze"), off+100)
			require.NoError(t, err)
			forced++
		}

		stop := make(chan struct{})
		var wg sync.WaitGroup
		stopWriters := sync.OnceFunc(func() {
			close(stop)
			wg.Wait()
		})
		defer stopWriters() // also when a check below fails the test
		for w := range 3 {
			seed := rng.Uint64()
			wg.Go(func() {
				r := rand.New(rand.NewPCG(seed, uint64(w)))
				for {
					select {
					case <-stop:
						return
					default:
						write(r)
					}
				}
			})
		}
		// Two readers, as an encoder reads blocks in parallel.
		var read atomic.Int64
		passes := 1
		if repeat {
			passes = 2
		}
		var readers sync.WaitGroup
		errs := make(chan error, 2)
		for reader := range 2 {
			readers.Go(func() {
				for pass := range passes {
					for vol, g := range geoms {
						for b := range f.Blocks(vol).All() {
							if int(b)%2 != reader {
								continue
							}
							off, n := g.BlockBounds(b)
							p := make([]byte, n)
							if err := f.ReadBlock(vol, b, p); err != nil {
								errs <- err
								return
							}
							if string(p) != string(snap[vol][off:off+int64(n)]) {
								errs <- fmt.Errorf("cycle %d pass %d volume %d block %d differs from the image at the freeze", cycle, pass, vol, b)
								return
							}
							read.Add(1)
						}
					}
				}
			})
		}
		readers.Wait()
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}
		stopWriters()
		st := f.Capture()
		t.Logf("cycle %d: read %d blocks, saved %d (%d bytes, %d spilled)", cycle, read.Load(), st.SavedBlocks, st.SavedBytes, st.SpilledBytes)
		assert.GreaterOrEqual(t, st.SavedBlocks, forced)
		if memory == 0 {
			assert.Equal(t, st.SavedBytes, st.SpilledBytes)
		}
		if memory < st.SavedBytes {
			assert.Greater(t, st.SpilledBytes, int64(0))
		}
		if cycle%2 == 0 {
			require.NoError(t, f.Commit(ctx))
		} else {
			require.NoError(t, f.Restore())
		}
		left, err := os.ReadDir(spill)
		require.NoError(t, err)
		assert.Empty(t, left, "the spill file is removed when the Frozen ends")
	}
}

func TestReadBlockRules(t *testing.T) {
	g := mustGeometry(t, 1<<20, 0)
	tr, err := NewTracker([]Geometry{g})
	require.NoError(t, err)
	defer tr.Close()
	ctx := context.Background()
	v := newMemVolume(g.Size)
	block := func(b int64) []byte {
		off, n := g.BlockBounds(b)
		return append([]byte(nil), v.data[off:off+int64(n)]...)
	}

	// Not attached yet: reads and copy-before-write cannot work.
	require.NoError(t, tr.Mark(0, 0, 1))
	f, err := tr.Freeze(ctx)
	require.NoError(t, err)
	assert.ErrorIs(t, f.ReadBlock(0, 0, make([]byte, g.BlockSize)), ErrNotAttached)
	assert.ErrorIs(t, tr.BeginWrite(0, 0, 1), ErrNotAttached)
	require.NoError(t, f.Restore())

	tv, err := tr.Volume(0, v)
	require.NoError(t, err)
	for _, b := range []int64{0, 1, 2} {
		_, err := tv.WriteAt([]byte{byte(b + 1)}, int64(b)*int64(g.BlockSize))
		require.NoError(t, err)
	}
	f, err = tr.Freeze(ctx)
	require.NoError(t, err)
	want0, want1, want2 := block(0), block(1), block(2)

	p := make([]byte, g.BlockSize)
	assert.ErrorIs(t, f.ReadBlock(0, 5, p), ErrNotFrozen)
	assert.ErrorIs(t, f.ReadBlock(0, 0, p[:10]), ErrGeometry)
	assert.ErrorIs(t, f.ReadBlock(0, 99, p), ErrGeometry)
	assert.ErrorIs(t, f.ReadBlock(1, 0, p), ErrGeometry)

	// Block 0: read, read again (unchanged), then overwritten: expired.
	require.NoError(t, f.ReadBlock(0, 0, p))
	assert.Equal(t, want0, p)
	require.NoError(t, f.ReadBlock(0, 0, p))
	assert.Equal(t, want0, p)
	_, err = tv.WriteAt([]byte{0xEE}, 0)
	require.NoError(t, err)
	assert.ErrorIs(t, f.ReadBlock(0, 0, p), ErrCaptureExpired)

	// Block 1: overwritten before any read: saved, readable again and again.
	_, err = tv.WriteAt([]byte{0xEE, 0xEE}, int64(g.BlockSize)+7)
	require.NoError(t, err)
	_, err = tv.WriteAt([]byte{0xDD}, int64(g.BlockSize)+9)
	require.NoError(t, err)
	for range 2 {
		require.NoError(t, f.ReadBlock(0, 1, p))
		assert.Equal(t, want1, p)
	}
	assert.Equal(t, CaptureStats{SavedBlocks: 1, SavedBytes: int64(g.BlockSize)}, f.Capture())

	// Block 2: never written after the freeze.
	require.NoError(t, f.ReadBlock(0, 2, p))
	assert.Equal(t, want2, p)
	require.NoError(t, f.Commit(ctx))
}

// TestSpillFailureFailsWrite: when a block cannot be saved, the write that
// needed the save fails and changes nothing.
func TestSpillFailureFailsWrite(t *testing.T) {
	g := mustGeometry(t, 1<<20, 0)
	tr, err := NewTracker([]Geometry{g}, WithCaptureMemory(0),
		WithSpillDir(filepath.Join(t.TempDir(), "missing")))
	require.NoError(t, err)
	defer tr.Close()
	v := newMemVolume(g.Size)
	tv, err := tr.Volume(0, v)
	require.NoError(t, err)
	_, err = tv.WriteAt([]byte{1}, 0)
	require.NoError(t, err)
	f, err := tr.Freeze(context.Background())
	require.NoError(t, err)
	before := v.snapshot()
	n, err := tv.WriteAt([]byte{2, 2, 2}, 10)
	assert.Error(t, err)
	assert.Equal(t, 0, n)
	assert.Equal(t, before, v.snapshot(), "the host write must not happen unsaved")
	d, _ := tr.Dirty(0)
	assert.True(t, d.Empty(), "a refused write marks nothing")
	// Blocks outside the frozen set need no save and are written.
	_, err = tv.WriteAt([]byte{3}, 3*int64(g.BlockSize))
	require.NoError(t, err)
	p := make([]byte, g.BlockSize)
	require.NoError(t, f.ReadBlock(0, 0, p))
	assert.Equal(t, before[:g.BlockSize], p)
	require.NoError(t, f.Commit(context.Background()))
}

// TestHostWritePath drives copy-before-write from a host's own write path
// with Attach, BeginWrite and EndWrite instead of a TrackedVolume.
func TestHostWritePath(t *testing.T) {
	g := mustGeometry(t, 1<<20, 0)
	tr, err := NewTracker([]Geometry{g})
	require.NoError(t, err)
	defer tr.Close()
	v := newMemVolume(g.Size)
	require.NoError(t, tr.Attach(0, v))
	assert.ErrorIs(t, tr.Attach(1, v), ErrGeometry)
	hostWrite := func(p []byte, off int64) {
		require.NoError(t, tr.BeginWrite(0, off, int64(len(p))))
		defer tr.EndWrite()
		_, err := v.WriteAt(p, off)
		require.NoError(t, err)
	}
	hostWrite([]byte("first"), 0)
	f, err := tr.Freeze(context.Background())
	require.NoError(t, err)
	hostWrite([]byte("second"), 0)
	p := make([]byte, g.BlockSize)
	require.NoError(t, f.ReadBlock(0, 0, p))
	assert.Equal(t, "first", string(p[:5]))
	require.NoError(t, f.Commit(context.Background()))
	d, _ := tr.Dirty(0)
	assert.Equal(t, []int64{0}, members(d))
}

// TestRepeatableCapture: with WithRepeatableCapture a block read before a
// write reads the same after it, as often as asked.
func TestRepeatableCapture(t *testing.T) {
	g := mustGeometry(t, 1<<20, 0)
	tr, err := NewTracker([]Geometry{g}, WithRepeatableCapture(true))
	require.NoError(t, err)
	defer tr.Close()
	v := newMemVolume(g.Size)
	tv, err := tr.Volume(0, v)
	require.NoError(t, err)
	_, err = tv.WriteAt([]byte("as of the freeze"), 0)
	require.NoError(t, err)
	f, err := tr.Freeze(context.Background())
	require.NoError(t, err)
	want := v.snapshot()[:g.BlockSize]
	p := make([]byte, g.BlockSize)
	require.NoError(t, f.ReadBlock(0, 0, p))
	assert.Equal(t, want, p)
	_, err = tv.WriteAt([]byte("after"), 0)
	require.NoError(t, err)
	for range 2 {
		require.NoError(t, f.ReadBlock(0, 0, p))
		assert.Equal(t, want, p)
	}
	assert.Equal(t, int64(1), f.Capture().SavedBlocks)
	require.NoError(t, f.Commit(context.Background()))
}
