package delta

import (
	"bytes"
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// checkRoundTrip encodes src, then checks that the records carry exactly
// the dirty blocks and pages of src, each once and in order, and that
// Apply onto olds gives the new pages over the old image. It returns the
// stream. The stage is split between memory and a file when stageSplit.
func checkRoundTrip(t testing.TB, src *memSource, olds [][]byte, opts ...EncoderOption) []byte {
	t.Helper()
	h := testHeader(src.geoms)
	stream, st := encodeSource(t, h, src, opts...)

	gotH, recs := readRecords(t, stream)
	assert.Equal(t, h.Group, gotH.Group)
	assert.Equal(t, h.Time, gotH.Time)
	assert.Equal(t, h.Volumes, gotH.Volumes)
	assert.Equal(t, h.Meta, gotH.Meta)
	assert.Equal(t, st.Records, int64(len(recs)))
	covered := make([]*Set, len(src.geoms))
	for v, g := range src.geoms {
		covered[v] = NewSet(g.Blocks())
	}
	var data, zero, cp int64
	for _, r := range recs {
		g := src.geoms[r.Volume]
		for b := r.Block; b < r.Block+r.Count; b++ {
			require.False(t, covered[r.Volume].Contains(b), "volume %d block %d twice", r.Volume, b)
			covered[r.Volume].Add(b)
		}
		off, blen := g.BlockBounds(r.Block)
		want, exp := expectedPages(src, r)
		switch r.Kind {
		case RecordData:
			data++
			require.True(t, bytes.Equal(exp, r.Data), "data of volume %d block %d", r.Volume, r.Block)
			assert.Equal(t, want == nil, r.Pages == nil)
		case RecordZero:
			zero += r.Count
			if r.Pages == nil {
				last, lastLen := g.BlockBounds(r.Block + r.Count - 1)
				assert.True(t, isZero(src.vols[r.Volume][off:last+int64(lastLen)]))
			} else {
				assert.True(t, isZero(exp))
			}
		case RecordCopy:
			cp++
			fo, fn := src.geoms[r.FromVolume].BlockBounds(r.FromBlock)
			require.Equal(t, blen, fn)
			assert.True(t, bytes.Equal(src.vols[r.FromVolume][fo:fo+int64(fn)], src.vols[r.Volume][off:off+int64(blen)]))
			assert.Nil(t, want)
		}
		if r.Pages != nil {
			assert.Equal(t, want.Count(g.BlockPages(r.Block)), r.Pages.Count(g.BlockPages(r.Block)))
			for p := range want.All(g.BlockPages(r.Block)) {
				assert.True(t, r.Pages.Has(p))
			}
		}
	}
	for v := range src.geoms {
		assert.True(t, covered[v].Equal(src.blocks[v]), "volume %d covered blocks", v)
	}
	assert.Equal(t, st.DataBlocks, data)
	assert.Equal(t, st.ZeroBlocks, zero)
	assert.Equal(t, st.CopyBlocks, cp)

	// Apply onto the old images gives the new pages over the old, with
	// the stage in memory, in a file, or split between them.
	for _, stageMem := range []int64{DefaultStageMemory, 0, int64(len(stream) / 2)} {
		mv, targets := newTargets(olds)
		_, err := Apply(context.Background(), bytes.NewReader(stream), targets, WithStageMemory(stageMem), WithTempDir(t.TempDir()))
		require.NoError(t, err)
		for v := range src.geoms {
			require.True(t, bytes.Equal(expectedImage(src, v, olds[v]), mv[v].snapshot()), "volume %d after apply", v)
		}
	}
	return stream
}

// expectedPages is what record r of a stream encoded from src must carry:
// the page mask of its block (nil for the whole block) and those pages'
// bytes of the volume.
func expectedPages(src *memSource, r Record) (PageMask, []byte) {
	g := src.geoms[r.Volume]
	off, blen := g.BlockBounds(r.Block)
	want := src.masks[blockAddr{r.Volume, r.Block}]
	if want != nil && (want.Count(g.BlockPages(r.Block)) == 0 || want.Full(g.BlockPages(r.Block))) {
		want = nil
	}
	var exp []byte
	_ = pageRuns(want, blen, func(o, n int) error {
		exp = append(exp, src.vols[r.Volume][off+int64(o):off+int64(o)+int64(n)]...)
		return nil
	})
	return want, exp
}
