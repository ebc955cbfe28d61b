package delta

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestRecordRanges(t *testing.T) {
	g := Geometry{Size: 10*4*PageSize + 5000, BlockSize: 4 * PageSize}
	type rng struct{ off, n int64 }
	collect := func(r Record) []rng {
		var out []rng
		for off, n := range r.Ranges(g) {
			out = append(out, rng{off, n})
		}
		return out
	}
	const bs = 4 * PageSize
	for name, tc := range map[string]struct {
		r    Record
		want []rng
	}{
		"whole block":      {Record{Kind: RecordData, Block: 2, Count: 1}, []rng{{2 * bs, bs}}},
		"zero run":         {Record{Kind: RecordZero, Block: 3, Count: 4}, []rng{{3 * bs, 4 * bs}}},
		"run to short end": {Record{Kind: RecordZero, Block: 8, Count: 3}, []rng{{8 * bs, 2*bs + 5000}}},
		"copy":             {Record{Kind: RecordCopy, Block: 1, Count: 1}, []rng{{bs, bs}}},
		"pages merged":     {Record{Kind: RecordData, Block: 1, Count: 1, Pages: PageMask{0b1101}}, []rng{{bs, PageSize}, {bs + 2*PageSize, 2 * PageSize}}},
		"short last page":  {Record{Kind: RecordZero, Block: 10, Count: 1, Pages: PageMask{0b10}}, []rng{{10*bs + PageSize, 5000 - PageSize}}},
	} {
		t.Run(name, func(t *testing.T) { assert.Equal(t, tc.want, collect(tc.r)) })
	}
	// Stopping early is honoured.
	r := Record{Kind: RecordData, Block: 1, Count: 1, Pages: PageMask{0b0101}}
	n := 0
	for range r.Ranges(g) {
		n++
		break
	}
	assert.Equal(t, 1, n)
}
