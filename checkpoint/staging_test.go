package checkpoint

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"maps"
	"math/rand/v2"
	"slices"
	"testing"
	"unsafe"

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

// TestStagedStreamSplitsAnywhere stages the sample records with stage
// memory sizes from none to all of them (every size around a record's
// edges, and a stride between), in pieces of seeded random sizes, and
// reads them back: the records in memory stay there, the rest
// go to the staging file (a record may start in one and end in the other),
// and every record comes back byte for byte, its Data marked stable
// exactly when it lies in memory.
func TestStagedStreamSplitsAnywhere(t *testing.T) {
	b, recs := sampleStaging(t)
	const seed = 31
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, seed))
	// Where each record's data ends in the staged bytes.
	var ends []int
	cw := &countWriter{}
	w := &stageWriter{bw: cw}
	limits := map[int]bool{}
	for i := range recs {
		at := int(cw.n)
		require.NoError(t, w.write(&recs[i]))
		ends = append(ends, int(cw.n))
		for d := -2; d <= 2; d++ {
			for _, edge := range []int{at, at + stageRecHeader, int(cw.n)} {
				limits[max(0, edge+d)] = true
			}
		}
	}
	for l := 0; l <= len(b)+1; l += 97 {
		limits[l] = true
	}
	limits[len(b)], limits[len(b)+1] = true, true
	for _, limit := range slices.Sorted(maps.Keys(limits)) {
		fsys := vfs.NewMem()
		require.NoError(t, fsys.MkdirAll("staging", 0o755))
		var slot bufSlot
		s := newStagedStream(fsys, "staging/x", limit, &slot)
		for i := 0; i < len(b); {
			n := min(1+rng.IntN(3000), len(b)-i)
			_, err := s.Write(b[i : i+n])
			require.NoError(t, err)
			i += n
		}
		require.NoError(t, s.Flush())
		kept := len(s.mem)
		if limit < len(b) {
			got, err := fsys.ReadFile("staging/x")
			require.NoError(t, err, "limit %d", limit)
			require.Equal(t, b[kept:], got, "limit %d: the staging file holds what memory does not", limit)
			require.LessOrEqual(t, kept, limit)
		} else {
			require.Equal(t, len(b), kept)
		}
		r := s.reader(stageGeoms)
		require.Equal(t, limit >= len(b), r.stable(), "limit %d", limit)
		var datas [][]byte
		var stable []bool
		for i, want := range recs {
			got, err := r.Next()
			require.NoError(t, err, "limit %d record %d", limit, i)
			assert.Equal(t, want.Kind, got.Kind)
			assert.Equal(t, want.Volume, got.Volume)
			assert.Equal(t, want.Block, got.Block)
			assert.Equal(t, want.Count, got.Count)
			assert.Equal(t, want.Pages, got.Pages)
			assert.Equal(t, want.FromVolume, got.FromVolume)
			assert.Equal(t, want.FromBlock, got.FromBlock)
			require.True(t, bytes.Equal(want.Data, got.Data), "limit %d record %d data", limit, i)
			assert.Equal(t, ends[i] <= kept && len(got.Data) > 0, r.dataStable() && len(got.Data) > 0, "limit %d record %d stable", limit, i)
			datas = append(datas, got.Data)
			stable = append(stable, r.dataStable())
		}
		_, err := r.Next()
		require.ErrorIs(t, err, io.EOF)
		for i, d := range datas {
			if stable[i] {
				assert.True(t, bytes.Equal(recs[i].Data, d), "limit %d record %d: stable data changed", limit, i)
			}
		}
		s.close()
		_, err = fsys.Stat("staging/x")
		assert.Error(t, err, "limit %d: staging file left", limit)
	}
}

type countWriter struct{ n int64 }

func (c *countWriter) Write(p []byte) (int, error) {
	c.n += int64(len(p))
	return len(p), nil
}

// A staging file write that fails shows at Flush (the verifying goroutine
// does not wait for the writes), every later Flush says the same, writes
// after Flush are refused, and the writing goroutine ends (goleak).
func TestSpillWriterReportsWriteError(t *testing.T) {
	boom := errors.New("disk gone")
	fw := &failingWriter{after: 3 * spillChunk / 2, err: boom}
	w := newSpillWriter(fw)
	chunk := bytes.Repeat([]byte{9}, 1000)
	for range 4 * spillChunk / len(chunk) {
		_, err := w.Write(chunk)
		require.NoError(t, err)
	}
	require.ErrorIs(t, w.Flush(), boom)
	require.ErrorIs(t, w.Flush(), boom)
	_, err := w.Write(chunk)
	require.ErrorIs(t, err, errStagingClosed)
	assert.Equal(t, spillChunk, fw.n, "nothing written after the failed write")

	// And without errors, the file gets every byte in order.
	var out bytes.Buffer
	w = newSpillWriter(&out)
	want := make([]byte, 0, 3*spillChunk+7)
	for i := 0; len(want) < 3*spillChunk; i++ {
		p := bytes.Repeat([]byte{byte(i)}, 1+i%5000)
		want = append(want, p...)
		_, err := w.Write(p)
		require.NoError(t, err)
	}
	require.NoError(t, w.Flush())
	require.True(t, bytes.Equal(want, out.Bytes()))
}

// failingWriter fails every write that would take it past after bytes.
type failingWriter struct {
	n, after int
	err      error
}

func (f *failingWriter) Write(p []byte) (int, error) {
	if f.n+len(p) > f.after {
		return 0, f.err
	}
	f.n += len(p)
	return len(p), nil
}

// The batches of a staged stream read partly from memory copy only the
// records read back from the staging file, into arenas bounded by
// arenaBytes (plus a block).
func TestBatchReaderCopiesOnlyFileRecords(t *testing.T) {
	b, recs := sampleStaging(t)
	for _, limit := range []int{0, len(b) / 3, len(b) / 2, len(b)} {
		fsys := vfs.NewMem()
		require.NoError(t, fsys.MkdirAll("staging", 0o755))
		var slot bufSlot
		s := newStagedStream(fsys, "staging/x", limit, &slot)
		_, err := s.Write(b)
		require.NoError(t, err)
		require.NoError(t, s.Flush())
		arenas := []*bufSlot{{}, {}}
		const arenaBytes = 10 << 10
		rd := newArenaBatchReader(context.Background(), s.reader(stageGeoms), 1<<20, arenaBytes, 16<<10, arenas)
		i := 0
		for bt := range rd.full {
			assert.LessOrEqual(t, len(bt.arena), arenaBytes+16<<10, "limit %d", limit)
			copied := 0
			for _, r := range bt.recs {
				require.Less(t, i, len(recs))
				require.True(t, bytes.Equal(recs[i].Data, r.Data), "limit %d record %d", limit, i)
				if len(r.Data) > 0 && inside(bt.arena, r.Data) {
					copied += len(r.Data)
				}
				i++
			}
			assert.Equal(t, len(bt.arena), copied, "limit %d: arena holds the copied records", limit)
			rd.free <- bt
		}
		require.NoError(t, rd.err())
		require.Equal(t, len(recs), i, "limit %d", limit)
		rd.stop()
		s.close()
	}
}

// inside reports whether p lies in the memory of arena.
func inside(arena, p []byte) bool {
	if cap(arena) == 0 || len(p) == 0 {
		return false
	}
	a := arena[:cap(arena)]
	return &p[0] == &a[0] || (uintptr(unsafe.Pointer(&p[0])) > uintptr(unsafe.Pointer(&a[0])) &&
		uintptr(unsafe.Pointer(&p[0])) < uintptr(unsafe.Pointer(&a[0]))+uintptr(len(a)))
}

// The stage memory in use grows from apply to apply: a store's first
// apply keeps stageFirst bytes in memory, each later one twice what the
// buffer had touched, up to the limit; a smaller apply does not shrink it.
func TestStagedStreamMemoryGrows(t *testing.T) {
	fsys := vfs.NewMem()
	require.NoError(t, fsys.MkdirAll("staging", 0o755))
	var slot bufSlot
	const limit = 20 << 20
	piece := make([]byte, 1<<20)
	for i, tc := range []struct {
		write    int // MiB
		memLimit int // MiB
		spilled  bool
	}{
		{5, 4, true},
		{3, 8, false},
		{9, 8, true},
		{17, 16, true},
		{30, 20, true},
		{1, 20, false},
	} {
		s := newStagedStream(fsys, "staging/x", limit, &slot)
		require.Equal(t, tc.memLimit<<20, s.limit, "apply %d", i)
		for range tc.write {
			_, err := s.Write(piece)
			require.NoError(t, err)
		}
		require.NoError(t, s.Flush())
		require.Equal(t, tc.spilled, s.spilled(), "apply %d", i)
		require.Equal(t, min(tc.write, tc.memLimit)<<20, len(s.mem), "apply %d", i)
		s.close()
	}
	// A smaller limit (another group) caps it; dropping the buffer starts
	// over.
	s := newStagedStream(fsys, "staging/x", 3<<20, &slot)
	require.Equal(t, 3<<20, s.limit)
	s.close()
	slot.drop()
	s = newStagedStream(fsys, "staging/x", limit, &slot)
	require.Equal(t, stageFirst, s.limit)
	s.close()
}
