package checkpoint

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/blockrep/blockrep/checkpoint/vfs"
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
	for _, tc := range []struct {
		name   string
		open   func(b []byte) *stageReader
		stable bool
	}{
		{"file", func(b []byte) *stageReader { return newStageReader(bytes.NewReader(b), stageGeoms) }, false},
		{"memory", func(b []byte) *stageReader { return newMemStageReader(b, stageGeoms) }, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := tc.open(b)
			assert.Equal(t, tc.stable, r.stable())
			var got []delta.Record
			for range recs {
				rec, err := r.Next()
				require.NoError(t, err)
				got = append(got, *rec)
			}
			_, err := r.Next()
			require.ErrorIs(t, err, io.EOF)
			for i, want := range recs {
				g := got[i]
				if !tc.stable {
					// Data was only valid until the next call.
					g.Data = nil
					want.Data = nil
				}
				assert.Equal(t, want.Kind, g.Kind)
				assert.Equal(t, want.Volume, g.Volume)
				assert.Equal(t, want.Block, g.Block)
				assert.Equal(t, want.Count, g.Count)
				assert.Equal(t, want.Pages, g.Pages)
				assert.Equal(t, want.FromVolume, g.FromVolume)
				assert.Equal(t, want.FromBlock, g.FromBlock)
				assert.True(t, bytes.Equal(want.Data, g.Data), "record %d data", i)
			}
			for cut := 0; cut < len(b); cut += 1 + cut/64 {
				r := tc.open(b[:cut])
				for {
					_, err := r.Next()
					if err != nil {
						require.ErrorIs(t, err, errStaging, "cut at %d", cut)
						break
					}
				}
			}
		})
	}
}

// TestStagedStreamSpills checks that records past the stage memory go to
// the staging file, whole, and that close removes it.
func TestStagedStreamSpills(t *testing.T) {
	b, _ := sampleStaging(t)
	for _, limit := range []int{0, 100, len(b) - 1, len(b)} {
		fsys := vfs.NewMem()
		require.NoError(t, fsys.MkdirAll("staging", 0o755))
		var slot bufSlot
		s := newStagedStream(fsys, "staging/x", limit, &slot)
		for i := 0; i < len(b); i += 1000 {
			_, err := s.Write(b[i:min(i+1000, len(b))])
			require.NoError(t, err)
		}
		require.NoError(t, s.Flush())
		r := s.reader(stageGeoms)
		assert.Equal(t, limit >= len(b), r.stable(), "limit %d", limit)
		n := 0
		for {
			_, err := r.Next()
			if errors.Is(err, io.EOF) {
				break
			}
			require.NoError(t, err, "limit %d", limit)
			n++
		}
		assert.Equal(t, 5, n, "limit %d", limit)
		_, err := fsys.Stat("staging/x")
		assert.Equal(t, limit < len(b), err == nil, "limit %d: staging file present", limit)
		s.close()
		_, err = fsys.Stat("staging/x")
		assert.Error(t, err, "limit %d: staging file left", limit)
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
