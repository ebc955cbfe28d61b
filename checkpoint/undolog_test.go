package checkpoint

import (
	"bytes"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/blockrep/blockrep/delta"
)

// memFile is an io.ReaderAt/WriterAt over a byte slice for log tests.
type memFile struct{ b []byte }

func (m *memFile) ReadAt(p []byte, off int64) (int, error) {
	if off >= int64(len(m.b)) {
		return 0, bytesEOF
	}
	n := copy(p, m.b[off:])
	if n < len(p) {
		return n, bytesEOF
	}
	return n, nil
}

var bytesEOF = ioEOF

type logRecord struct {
	vol   int
	block int64
	mask  delta.PageMask
	data  []byte
}

var undoGeoms = []delta.Geometry{{Size: 1 << 20, BlockSize: 64 << 10}, {Size: 100<<10 + 5, BlockSize: 64 << 10}}

func sampleUndoLog(t testing.TB, seed uint64) ([]byte, []logRecord) {
	rng := rand.New(rand.NewPCG(seed, 2))
	var b []byte
	b = append(b, undoHeader(64<<10, 2, undoIDs{new: delta.PointID{9}})...)
	var recs []logRecord
	for v, g := range undoGeoms {
		for blk := range g.Blocks() {
			if rng.IntN(2) == 0 {
				continue
			}
			_, blen := g.BlockBounds(blk)
			pages := g.BlockPages(blk)
			var mask delta.PageMask
			if rng.IntN(2) == 0 && pages > 1 {
				mask = delta.PageMask{uint64(rng.Uint32()) & (1<<pages - 1)}
				mask = normMask(mask, pages)
				if mask != nil && mask.Count(pages) == 0 {
					mask = nil
				}
			}
			data := make([]byte, maskBytes(mask, blen))
			fillRand(rng, data)
			b, _ = appendUndoRecord(b, v, blk, mask, data)
			recs = append(recs, logRecord{v, blk, mask, data})
		}
	}
	return b, recs
}

func TestUndoLogRoundTrip(t *testing.T) {
	b, recs := sampleUndoLog(t, 1)
	ix, end, err := readUndoLog(&memFile{b}, int64(len(b)), undoGeoms, 64<<10, false)
	require.NoError(t, err)
	assert.Equal(t, int64(len(b)), end)
	assert.Equal(t, int64(len(recs)), ix.records)
	for _, r := range recs {
		e, ok := ix.get(r.vol, r.block)
		require.True(t, ok)
		assert.Equal(t, r.mask, e.mask)
		assert.Equal(t, r.data, b[e.off:e.off+int64(len(r.data))])
	}
}

// Every truncation is damage to a committed log and a torn tail to an
// interrupted one: the tolerant reader keeps exactly the whole records.
func TestUndoLogTruncated(t *testing.T) {
	b, _ := sampleUndoLog(t, 2)
	full, _, err := readUndoLog(&memFile{b}, int64(len(b)), undoGeoms, 64<<10, false)
	require.NoError(t, err)
	for cut := 0; cut < len(b); cut += 1 + cut/50 {
		// A cut at a record boundary reads as a shorter log: the manifest's
		// size and record count are what catch it.
		if ix, _, err := readUndoLog(&memFile{b[:cut]}, int64(cut), undoGeoms, 64<<10, false); err == nil {
			require.Less(t, ix.records, full.records, "cut at %d", cut)
		}
		ix, end, err := readUndoLog(&memFile{b[:cut]}, int64(cut), undoGeoms, 64<<10, true)
		require.NoError(t, err)
		require.LessOrEqual(t, end, int64(cut))
		for v := range ix.vols {
			for blk, e := range ix.vols[v] {
				require.Equal(t, full.vols[v][blk], e)
			}
		}
	}
}

func TestUndoLogCorrupt(t *testing.T) {
	b, _ := sampleUndoLog(t, 3)
	rng := rand.New(rand.NewPCG(3, 3))
	for range 200 {
		c := bytes.Clone(b)
		c[rng.IntN(len(c))] ^= byte(1 + rng.IntN(255))
		_, _, err := readUndoLog(&memFile{c}, int64(len(c)), undoGeoms, 64<<10, false)
		require.Error(t, err)
	}
	// A log of another group shape is refused.
	_, _, err := readUndoLog(&memFile{b}, int64(len(b)), undoGeoms[:1], 64<<10, false)
	require.Error(t, err)
	_, _, err = readUndoLog(&memFile{b}, int64(len(b)), undoGeoms, 32<<10, false)
	require.Error(t, err)
}

func FuzzUndoLog(f *testing.F) {
	b, _ := sampleUndoLog(f, 4)
	f.Add(b)
	f.Add(b[:len(b)/3])
	f.Add(undoHeader(64<<10, 2, undoIDs{new: delta.PointID{9}}))
	f.Fuzz(func(t *testing.T, b []byte) {
		for _, tolerant := range []bool{false, true} {
			ix, end, err := readUndoLog(&memFile{b}, int64(len(b)), undoGeoms, 64<<10, tolerant)
			if err != nil {
				require.False(t, tolerant, "the tolerant reader only fails on I/O")
				continue
			}
			require.LessOrEqual(t, end, int64(len(b)))
			if !tolerant {
				require.Equal(t, int64(len(b)), end)
			}
			var n int64
			for v, m := range ix.vols {
				for blk, e := range m {
					n++
					_, blen := undoGeoms[v].BlockBounds(blk)
					require.Less(t, blk, undoGeoms[v].Blocks())
					require.LessOrEqual(t, e.off+int64(maskBytes(e.mask, blen)), end)
					require.Equal(t, normMask(e.mask, undoGeoms[v].BlockPages(blk)), e.mask)
				}
			}
			require.Equal(t, ix.records, n)
		}
	})
}
