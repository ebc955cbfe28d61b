//go:build linux

package replica

import (
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestMarkNonZeroSparseFile marks a sparse file: exactly the blocks that
// hold data — the written zero block too (the encoder sends it as a zero
// record), not the holes — and, where the file system reports holes, the
// holes are not data.
func TestMarkNonZeroSparseFile(t *testing.T) {
	const bs = 64 << 10
	const size = 256*bs + 1000 // partial last block
	f, err := os.Create(filepath.Join(t.TempDir(), "vol.img"))
	require.NoError(t, err)
	defer f.Close()
	require.NoError(t, f.Truncate(size))
	for _, w := range []struct {
		off int64
		p   []byte
	}{
		{3*bs + 17, []byte{1}},
		{100*bs - 2, []byte{2, 3, 4, 5}}, // blocks 99 and 100
		{200 * bs, make([]byte, bs)},     // allocated, all zero
		{size - 1, []byte{6}},
	} {
		_, err := f.WriteAt(w.p, w.off)
		require.NoError(t, err)
	}
	sv, ok := sparseOf(f)
	require.True(t, ok)
	got, err := scanMarks(t, f, size, bs, sv)
	require.NoError(t, err)

	start, end, err := sv.NextData(0)
	require.NoError(t, err)
	if start == 0 && end >= size {
		assert.Len(t, got, 257, "no holes: every block is marked")
		t.Skip("the file system reports no holes")
	}
	assert.Equal(t, []int64{3, 99, 100, 200, 256}, got)
	assert.LessOrEqual(t, start, int64(3*bs+17))
	assert.Greater(t, start, int64(0), "block 0 is a hole")
	_, _, err = sv.NextData(size)
	assert.ErrorIs(t, err, io.EOF, "nothing after the end")
}
