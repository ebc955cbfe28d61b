package checkpoint

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/blockrep/blockrep/delta"
)

var stageGeoms = []delta.Geometry{{Size: 100 << 10, BlockSize: 16 << 10}, {Size: 40<<10 + 1, BlockSize: 16 << 10}}

func sampleStaging(t testing.TB) ([]byte, []delta.Record) {
	recs := []delta.Record{
		{Volume: 0, Kind: delta.RecordData, Block: 0, Count: 1, Data: bytes.Repeat([]byte{1}, 16<<10)},
		{Volume: 0, Kind: delta.RecordData, Block: 1, Count: 1, Pages: delta.PageMask{0b1010}, Data: bytes.Repeat([]byte{2}, 8<<10)},
		{Volume: 0, Kind: delta.RecordZero, Block: 2, Count: 3},
		{Volume: 1, Kind: delta.RecordCopy, Block: 0, Count: 1, FromVolume: 0, FromBlock: 0},
		{Volume: 1, Kind: delta.RecordData, Block: 2, Count: 1, Data: bytes.Repeat([]byte{7}, 8<<10+1)},
	}
	var buf bytes.Buffer
	w := &stageWriter{bw: bufio.NewWriter(&buf)}
	for i := range recs {
		require.NoError(t, w.write(&recs[i]))
	}
	require.NoError(t, w.end())
	return buf.Bytes(), recs
}

func TestStagingRoundTrip(t *testing.T) {
	b, recs := sampleStaging(t)
	r := newStageReader(bytes.NewReader(b), stageGeoms)
	for _, want := range recs {
		got, err := r.Next()
		require.NoError(t, err)
		require.Equal(t, want.Kind, got.Kind)
		require.Equal(t, want.Volume, got.Volume)
		require.Equal(t, want.Block, got.Block)
		require.Equal(t, want.Count, got.Count)
		require.Equal(t, want.Pages, got.Pages)
		require.Equal(t, want.FromVolume, got.FromVolume)
		require.Equal(t, want.FromBlock, got.FromBlock)
		require.Equal(t, len(want.Data), len(got.Data))
		require.True(t, bytes.Equal(want.Data, got.Data))
	}
	_, err := r.Next()
	require.ErrorIs(t, err, io.EOF)
	for cut := 0; cut < len(b); cut += 1 + cut/64 {
		r := newStageReader(bytes.NewReader(b[:cut]), stageGeoms)
		for {
			_, err := r.Next()
			if err != nil {
				require.ErrorIs(t, err, errStaging, "cut at %d", cut)
				break
			}
		}
	}
}

func FuzzStaging(f *testing.F) {
	b, _ := sampleStaging(f)
	f.Add(b)
	f.Add([]byte{1, 0, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		r := newStageReader(bytes.NewReader(b), stageGeoms)
		for range 64 {
			rec, err := r.Next()
			if err != nil {
				require.True(t, errors.Is(err, io.EOF) || errors.Is(err, errStaging))
				return
			}
			g := stageGeoms[rec.Volume]
			require.LessOrEqual(t, rec.Block+rec.Count, g.Blocks())
			require.LessOrEqual(t, len(rec.Data), g.BlockSize)
		}
	})
}
