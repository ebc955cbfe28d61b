package main

import (
	"bytes"
	"context"
	"io"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/blockrep/blockrep/delta"
)

const testBlock = 4096

// zeroImage is the image of one zero volume of n blocks.
func zeroImage(t *testing.T, n int) image {
	t.Helper()
	im, err := hashImage(context.Background(), []io.ReaderAt{bytes.NewReader(make([]byte, n*testBlock))}, []int64{int64(n * testBlock)}, testBlock)
	require.NoError(t, err)
	return im
}

func blockOf(b byte) []byte { return bytes.Repeat([]byte{b}, testBlock) }

func TestModelMatch(t *testing.T) {
	type w struct {
		block int64
		fill  byte
	}
	tests := []struct {
		name    string
		writes  []w
		frozen  int // the point holds the image after this many writes
		want    matchResult
		wantErr bool
	}{
		{name: "no writes", frozen: 0, want: matchResult{}},
		{name: "all writes", writes: []w{{1, 1}, {2, 2}}, frozen: 2, want: matchResult{Writes: 2, Touched: 2}},
		{name: "a prefix", writes: []w{{1, 1}, {2, 2}, {3, 3}}, frozen: 1, want: matchResult{Writes: 1, Left: 2, Touched: 3}},
		{name: "same block twice", writes: []w{{1, 1}, {1, 2}}, frozen: 2, want: matchResult{Writes: 2, Touched: 1}},
		// Zeros over zeros change nothing: the image after it equals the
		// image before, and the shortest prefix is taken.
		{name: "a write that changes nothing", writes: []w{{1, 0}, {2, 2}}, frozen: 1, want: matchResult{Writes: 0, Left: 2, Touched: 2}},
		{name: "no prefix", writes: []w{{1, 1}}, frozen: -1, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			start := zeroImage(t, 4)
			m := newModel(start)
			frozen := start.clone()
			for i, x := range tt.writes {
				h := delta.HashBlock(blockOf(x.fill))
				m.lock()
				m.record(write{vol: 0, block: x.block, hash: h})
				m.unlock()
				if i < tt.frozen {
					frozen[0].Set(x.block, h)
				}
			}
			want := frozen.root()
			if tt.frozen < 0 {
				want = delta.HashBlock(blockOf(9)) // no image's root
			}
			id := delta.PointID{7}
			got, err := m.match(id, want)
			if tt.wantErr {
				require.Error(t, err)
				_, known := m.point(id)
				assert.False(t, known, "a point that matched nothing is not recorded")
				assert.Equal(t, len(tt.writes), m.pendingWrites(), "the journal is unchanged")
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
			im, ok := m.point(id)
			require.True(t, ok)
			assert.Equal(t, want, im.root())
			assert.Equal(t, tt.want.Left, m.pendingWrites())
			// The writes left over are the next point's: the current image
			// is the one after all of them.
			all := start.clone()
			for _, x := range tt.writes {
				all[0].Set(x.block, delta.HashBlock(blockOf(x.fill)))
			}
			assert.Equal(t, all.root(), m.current().root())
		})
	}
}

// rebase drops the journal and starts from another image: the one a
// failover committed.
func TestModelRebase(t *testing.T) {
	start := zeroImage(t, 4)
	m := newModel(start)
	m.lock()
	m.record(write{vol: 0, block: 1, hash: delta.HashBlock(blockOf(1))})
	m.unlock()
	branch := start.clone()
	branch[0].Set(3, delta.HashBlock(blockOf(3)))
	m.rebase(branch)
	assert.Equal(t, 0, m.pendingWrites())
	assert.Equal(t, branch.root(), m.current().root())
	assert.Equal(t, int64(1), m.writes(), "the count of writes made stays")
	branch[0].Set(2, delta.HashBlock(blockOf(2)))
	assert.NotEqual(t, branch.root(), m.current().root(), "rebase took a copy")
}

func TestFormatBytes(t *testing.T) {
	for in, want := range map[int64]string{
		0: "0 B", 1023: "1023 B", 1024: "1 KiB", 1536: "1.5 KiB", 256 << 20: "256 MiB", 5 << 30: "5 GiB", -2048: "-2 KiB",
	} {
		assert.Equal(t, want, formatBytes(in), "%d", in)
	}
}
