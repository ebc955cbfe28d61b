package delta

import (
	"context"
	"io"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestScanSource(t *testing.T) {
	rng := hashTestRand(t)
	g0, err := NewGeometry(8*65536+100, 65536)
	require.NoError(t, err)
	g1, err := NewGeometry(3*PageSize, PageSize)
	require.NoError(t, err)
	d0, d1 := hashTestVolume(rng, g0.Size), hashTestVolume(rng, g1.Size)
	p0 := scanOrFail(t, d0, g0, nil).Hashes
	p1 := scanOrFail(t, d1, g1, nil).Hashes
	d0[2*65536+PageSize]++
	d0[len(d0)-1]++
	r0 := scanOrFail(t, d0, g0, p0)
	r1 := scanOrFail(t, d1, g1, p1)

	src, err := NewScanSource([]io.ReaderAt{newHashMemVolume(d0), newHashMemVolume(d1)}, []*ScanResult{r0, r1})
	require.NoError(t, err)
	var _ Source = src
	assert.Equal(t, []Geometry{g0, g1}, src.Geometries())
	assert.Equal(t, []int64{2, 8}, hashMembers(src.Blocks(0)))
	assert.True(t, src.Blocks(1).Empty())
	assert.Equal(t, PageMask{1 << 1}, src.Pages(0, 2, nil))
	assert.Nil(t, src.Pages(0, 8, nil), "the one page of the short last block changed")

	for _, b := range []int64{2, 8} {
		off, n := g0.BlockBounds(b)
		p := make([]byte, n)
		require.NoError(t, src.ReadBlock(0, b, p))
		assert.Equal(t, d0[off:off+int64(n)], p, "block %d", b)
	}
	assert.ErrorIs(t, src.ReadBlock(0, 2, make([]byte, 10)), ErrMismatch)
	assert.ErrorIs(t, src.ReadBlock(0, 9, make([]byte, 100)), ErrMismatch)
	assert.ErrorIs(t, src.ReadBlock(2, 0, make([]byte, 100)), ErrMismatch)

	// A volume that shrank since the scan.
	short, err := NewScanSource([]io.ReaderAt{newHashMemVolume(d0[:65536])}, []*ScanResult{r0})
	require.NoError(t, err)
	err = short.ReadBlock(0, 2, make([]byte, 65536))
	assert.ErrorIs(t, err, io.ErrUnexpectedEOF)
}

func TestNewScanSourceRejects(t *testing.T) {
	g, err := NewGeometry(65536, 65536)
	require.NoError(t, err)
	res, err := Scan(context.Background(), newHashMemVolume(make([]byte, 65536)), g, nil)
	require.NoError(t, err)
	_, err = NewScanSource([]io.ReaderAt{newHashMemVolume(nil)}, nil)
	assert.ErrorIs(t, err, ErrMismatch)
	_, err = NewScanSource([]io.ReaderAt{nil}, []*ScanResult{res})
	assert.ErrorIs(t, err, ErrMismatch)
	_, err = NewScanSource([]io.ReaderAt{newHashMemVolume(nil)}, []*ScanResult{nil})
	assert.ErrorIs(t, err, ErrMismatch)
}
