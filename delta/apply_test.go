package delta

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// failingTarget fails every write after the first ok ones.
type failingTarget struct {
	*memVolume
	ok     int
	writes int
}

var errWriteFailed = errors.New("write failed")

func (f *failingTarget) WriteAt(p []byte, off int64) (int, error) {
	f.writes++
	if f.writes > f.ok {
		return 0, errWriteFailed
	}
	return f.memVolume.WriteAt(p, off)
}

func TestApplyWriteError(t *testing.T) {
	src, _, stream := smallStream(t)
	olds := oldImages(src)
	mv, _ := newTargets(olds)
	ft := &failingTarget{memVolume: mv[0], ok: 1}
	_, err := Apply(context.Background(), bytes.NewReader(stream), []Target{ft, mv[1]})
	assert.ErrorIs(t, err, errWriteFailed)
	assert.NotErrorIs(t, err, ErrCorrupt)
}

func TestApplyStageFileRemoved(t *testing.T) {
	src, _, stream := smallStream(t)
	dir := t.TempDir()
	_, targets := newTargets(oldImages(src))
	_, err := Apply(context.Background(), bytes.NewReader(stream), targets, WithTempDir(dir), WithStageMemory(0))
	require.NoError(t, err)
	left, err := os.ReadDir(dir)
	require.NoError(t, err)
	assert.Empty(t, left)

	// A stage directory that does not exist is an error before any write.
	olds := oldImages(src)
	mv, targets := newTargets(olds)
	_, err = Apply(context.Background(), bytes.NewReader(stream), targets, WithTempDir(filepath.Join(dir, "missing")), WithStageMemory(0))
	assert.Error(t, err)
	for v := range mv {
		assert.True(t, bytes.Equal(olds[v], mv[v].data))
	}
}

// zeroTarget records WriteZeroes calls.
type zeroTarget struct {
	*memVolume
	zeroed int64
}

func (z *zeroTarget) WriteZeroes(off, n int64) error {
	z.zeroed += n
	_, err := z.memVolume.WriteAt(make([]byte, n), off)
	return err
}

func TestApplyUsesZeroWriter(t *testing.T) {
	src, _, stream := smallStream(t)
	olds := oldImages(src)
	mv, _ := newTargets(olds)
	z0, z1 := &zeroTarget{memVolume: mv[0]}, &zeroTarget{memVolume: mv[1]}
	_, err := Apply(context.Background(), bytes.NewReader(stream), []Target{z0, z1})
	require.NoError(t, err)
	assert.Equal(t, int64(2*2*PageSize), z0.zeroed) // the run of blocks 0-1
	assert.Equal(t, int64(PageSize), z1.zeroed)     // page 0 of block 1
	for v := range mv {
		assert.True(t, bytes.Equal(expectedImage(src, v, olds[v]), mv[v].data))
	}
}

func TestOptionsRefuseBadValues(t *testing.T) {
	g := Geometry{Size: 1 << 20, BlockSize: 64 << 10}
	h := testHeader([]Geometry{g})
	for name, o := range map[string]EncoderOption{
		"level":       WithLevel(0),
		"zstd level":  WithZstdLevel(23),
		"concurrency": WithConcurrency(0),
		"memory":      WithEncoderMemory(0),
		"dedup table": WithDedupTable(MaxCopySources + 1),
	} {
		_, err := NewEncoder(&bytes.Buffer{}, h, o)
		assert.Error(t, err, name)
	}
	for name, o := range map[string]DecoderOption{
		"volumes":    WithMaxVolumes(MaxVolumes + 1),
		"block size": WithMaxBlockSize(MaxBlockSize * 2),
		"stream":     WithMaxStreamBytes(0),
	} {
		_, err := NewDecoder(bytes.NewReader(nil), o)
		assert.Error(t, err, name)
		assert.NotErrorIs(t, err, ErrCorrupt, name)
	}
	for name, o := range map[string]ApplyOption{
		"stage memory": WithStageMemory(-1),
		"concurrency":  WithApplyConcurrency(0),
	} {
		_, err := Apply(context.Background(), bytes.NewReader(nil), nil, o)
		assert.Error(t, err, name)
		assert.NotErrorIs(t, err, ErrCorrupt, name)
	}
	// Levels by number and the dedup table bound work.
	src, err := NewSource([]ioReaderAt{patternVolume{size: g.Size}}, []Geometry{g}, nil)
	require.NoError(t, err)
	stream, st := encodeSource(t, h, src, WithZstdLevel(19), WithDedupTable(1))
	assert.Equal(t, int64(10), st.DataBlocks) // every third 64 KiB chunk is zeros
	assert.Equal(t, int64(6), st.ZeroBlocks)
	_, err = Verify(bytes.NewReader(stream))
	assert.NoError(t, err)
}

func TestNewSourceRefusals(t *testing.T) {
	g := Geometry{Size: 1 << 20, BlockSize: 64 << 10}
	vol := patternVolume{size: g.Size}
	_, err := NewSource([]ioReaderAt{vol}, []Geometry{g, g}, nil)
	assert.ErrorIs(t, err, ErrMismatch)
	_, err = NewSource([]ioReaderAt{vol}, []Geometry{g}, []*Set{NewSet(3)})
	assert.ErrorIs(t, err, ErrMismatch)
	_, err = NewSource([]ioReaderAt{vol}, []Geometry{{Size: 10, BlockSize: 100}}, nil)
	assert.ErrorIs(t, err, ErrGeometry)
	_, err = NewSource([]ioReaderAt{nil}, []Geometry{g}, nil)
	assert.ErrorIs(t, err, ErrMismatch)

	// A volume shorter than its geometry fails the read, and the encode.
	short := patternVolume{size: g.Size - 1}
	src, err := NewSource([]ioReaderAt{short}, []Geometry{g}, nil)
	require.NoError(t, err)
	e, err := NewEncoder(&bytes.Buffer{}, testHeader([]Geometry{g}))
	require.NoError(t, err)
	_, err = e.Encode(context.Background(), src)
	assert.ErrorIs(t, err, errUnexpectedEOF)
}

func TestApplyConcurrently(t *testing.T) {
	src, _, stream := smallStream(t)
	olds := oldImages(src)
	var wg sync.WaitGroup
	errs := make([]error, 6)
	vols := make([][]*memVolume, len(errs))
	for i := range errs {
		mv, targets := newTargets(olds)
		vols[i] = mv
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, errs[i] = Apply(context.Background(), bytes.NewReader(stream), targets, WithStageMemory(int64(i)*300))
		}()
	}
	wg.Wait()
	for i, err := range errs {
		require.NoError(t, err)
		for v := range olds {
			assert.True(t, bytes.Equal(expectedImage(src, v, olds[v]), vols[i][v].data), "apply %d volume %d", i, v)
		}
	}
}
