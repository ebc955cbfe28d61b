package delta

import (
	"bytes"
	"context"
	"io"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

// cancellingSource cancels ctx when the encoder reads its n-th block, so
// the cancellation lands while workers, filler and drainer are all busy.
type cancellingSource struct {
	Source
	reads  atomic.Int64
	n      int64
	cancel context.CancelFunc
}

func (s *cancellingSource) ReadBlock(vol int, block int64, p []byte) error {
	if s.reads.Add(1) == s.n {
		s.cancel()
	}
	return s.Source.ReadBlock(vol, block, p)
}

// TestEncodeCancelledMidway cancels an encode at several points: it returns
// ctx's error, starts no goroutine that outlives it, and what it wrote
// lacks a trailer, so no reader accepts it.
func TestEncodeCancelledMidway(t *testing.T) {
	g := Geometry{Size: 8 << 20, BlockSize: 64 << 10}
	for _, at := range []int64{1, 2, 17, 60, 127} {
		inner, err := NewSource([]io.ReaderAt{patternVolume{size: g.Size}}, []Geometry{g}, nil)
		require.NoError(t, err)
		ctx, cancel := context.WithCancel(context.Background())
		src := &cancellingSource{Source: inner, n: at, cancel: cancel}
		var out bytes.Buffer
		e, err := NewEncoder(&out, testHeader([]Geometry{g}), WithConcurrency(2), WithEncoderMemory(1<<20))
		require.NoError(t, err)
		_, err = e.Encode(ctx, src)
		cancel()
		require.ErrorIs(t, err, context.Canceled, "cancelled at read %d", at)
		goleak.VerifyNone(t)
		// Only the blocks already in the pipeline's slots may still be read.
		assert.LessOrEqual(t, src.reads.Load(), at+16, "cancelled at read %d: the encode stopped early", at)
		_, err = Verify(bytes.NewReader(out.Bytes()))
		assert.ErrorIs(t, err, ErrCorrupt, "cancelled at read %d: a partial stream is refused", at)
	}
}

// cancellingReader cancels ctx once n bytes of the stream were read.
type cancellingReader struct {
	r      io.Reader
	read   int
	n      int
	cancel context.CancelFunc
}

func (c *cancellingReader) Read(p []byte) (int, error) {
	if c.read+len(p) > c.n {
		p = p[:max(c.n-c.read, 1)]
	}
	n, err := c.r.Read(p)
	c.read += n
	if c.read >= c.n {
		c.cancel()
	}
	return n, err
}

// TestApplyCancelledMidway cancels an Apply while it verifies the stream:
// ctx's error, targets untouched, no goroutine left behind.
func TestApplyCancelledMidway(t *testing.T) {
	src, _, stream := smallStream(t)
	olds := oldImages(src)
	for _, at := range []int{1, len(stream) / 3, len(stream) / 2, len(stream) - 1} {
		ctx, cancel := context.WithCancel(context.Background())
		mv, targets := newTargets(olds)
		r := &cancellingReader{r: bytes.NewReader(stream), n: at, cancel: cancel}
		_, err := Apply(ctx, r, targets, WithApplyConcurrency(2))
		cancel()
		require.ErrorIs(t, err, context.Canceled, "cancelled after %d bytes", at)
		goleak.VerifyNone(t)
		for v := range mv {
			assert.True(t, bytes.Equal(olds[v], mv[v].data), "cancelled after %d bytes: volume %d changed", at, v)
		}
	}
}
