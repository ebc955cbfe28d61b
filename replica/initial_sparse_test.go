package replica

import (
	"context"
	"errors"
	"io"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/blockrep/blockrep/delta"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// sparseMem is a volume in memory that reports given data ranges and
// counts the bytes read from it.
type sparseMem struct {
	data   []byte
	ranges [][2]int64 // sorted, disjoint
	fail   error      // returned by NextData when set
	read   int64
	calls  int
}

func (v *sparseMem) ReadAt(p []byte, off int64) (int, error) {
	if off >= int64(len(v.data)) {
		return 0, io.EOF
	}
	n := copy(p, v.data[off:])
	v.read += int64(n)
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

func (v *sparseMem) WriteAt(p []byte, off int64) (int, error) { return copy(v.data[off:], p), nil }

func (v *sparseMem) NextData(off int64) (int64, int64, error) {
	v.calls++
	if v.fail != nil {
		return 0, 0, v.fail
	}
	for _, r := range v.ranges {
		if r[1] > off {
			return max(r[0], off), r[1], nil
		}
	}
	return 0, 0, io.EOF
}

// scanMarks runs markNonZeroSparse over v and returns the marked blocks.
func scanMarks(t *testing.T, v Volume, size, bs int64, sv SparseVolume) ([]int64, error) {
	t.Helper()
	g, err := delta.NewGeometry(size, int(bs))
	require.NoError(t, err)
	tr, err := delta.NewTracker([]delta.Geometry{g})
	require.NoError(t, err)
	defer tr.Close()
	buf := make([]byte, 4*bs) // small, so that ranges take several reads
	err = markNonZeroSparse(context.Background(), tr, 0, VolumeConfig{Name: "d", Volume: v, Size: size}, bs, buf, sv)
	if err != nil {
		return nil, err
	}
	s, err := tr.Dirty(0)
	require.NoError(t, err)
	return slices.Collect(s.All()), nil
}

func TestMarkNonZeroSparseMarksDataRangesWithoutReading(t *testing.T) {
	const bs = 4096
	seed := rand.Uint64()
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 1))
	cases := []struct {
		name   string
		size   int64
		ranges [][2]int64
		writes []int64 // offsets of one non-zero byte each
		want   []int64
	}{
		{name: "no data", size: 64 * bs},
		{name: "aligned", size: 64 * bs, ranges: [][2]int64{{8 * bs, 12 * bs}}, writes: []int64{9*bs + 5}, want: []int64{8, 9, 10, 11}},
		{
			// Two ranges in one block: the block is marked once.
			name: "unaligned, sharing a block", size: 64 * bs,
			ranges: [][2]int64{{3*bs + 100, 3*bs + 200}, {3*bs + 3000, 5*bs + 1}},
			writes: []int64{3*bs + 150, 5 * bs},
			want:   []int64{3, 4, 5},
		},
		{
			// Zero blocks inside a range are marked: the encoder finds
			// them zero.
			name: "zero blocks inside data", size: 64 * bs,
			ranges: [][2]int64{{14 * bs, 16 * bs}, {62 * bs, 64 * bs}},
			writes: []int64{15 * bs, 63*bs + bs - 1},
			want:   []int64{14, 15, 62, 63},
		},
		{
			name: "partial last block, range past the end", size: 10*bs + 100,
			ranges: [][2]int64{{10 * bs, 12 * bs}},
			writes: []int64{10*bs + 99},
			want:   []int64{10},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			v := &sparseMem{data: make([]byte, tc.size), ranges: tc.ranges}
			for _, off := range tc.writes {
				v.data[off] = byte(1 + rng.IntN(255))
			}
			got, err := scanMarks(t, v, tc.size, bs, v)
			require.NoError(t, err)
			assert.Equal(t, tc.want, nilIfEmpty(got))
			assert.Zero(t, v.read, "bytes read")
		})
	}
}

func nilIfEmpty(s []int64) []int64 {
	if len(s) == 0 {
		return nil
	}
	return s
}

// TestMarkNonZeroSparseFallback: a volume that cannot tell where its data
// is gets marked whole, for the encoder to read once.
func TestMarkNonZeroSparseFallback(t *testing.T) {
	const bs, size = 4096, 32 * 4096
	v := &sparseMem{data: make([]byte, size), fail: errors.ErrUnsupported}
	v.data[7*bs+1] = 1
	v.data[size-1] = 2
	got, err := scanMarks(t, v, size, bs, v)
	require.NoError(t, err)
	var want []int64
	for b := int64(0); b < 32; b++ {
		want = append(want, b)
	}
	assert.Equal(t, want, got)
	assert.Zero(t, v.read, "bytes read")
	assert.Equal(t, 1, v.calls)

	// A volume that is neither a SparseVolume nor a file takes markNonZero's
	// reading path.
	_, ok := sparseOf(struct{ Volume }{v})
	assert.False(t, ok)
}

func TestMarkNonZeroSparseErrors(t *testing.T) {
	const bs, size = 4096, 16 * 4096
	boom := errors.New("boom")
	v := &sparseMem{data: make([]byte, size), fail: boom}
	_, err := scanMarks(t, v, size, bs, v)
	require.ErrorIs(t, err, boom)

	bad := &sparseMem{data: make([]byte, size), ranges: [][2]int64{{5 * bs, 5 * bs}}}
	_, err = scanMarks(t, bad, size, bs, bad)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "bad range")
	assert.Zero(t, bad.read)
}
