package delta

import (
	"context"
	"io"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestStateFileImplementations runs the same persistent-tracker round trip
// on every StateFile the package ships.
func TestStateFileImplementations(t *testing.T) {
	geoms := stateTestGeoms(t)
	for _, tc := range []struct {
		name   string
		create func(t *testing.T) (StateFile, func() StateFile)
	}{
		{"os", func(t *testing.T) (StateFile, func() StateFile) {
			path := filepath.Join(t.TempDir(), "s.track")
			f, err := CreateStateFile(path)
			require.NoError(t, err)
			return f, func() StateFile {
				f, err := OpenStateFile(path)
				require.NoError(t, err)
				return f
			}
		}},
		{"memory", func(t *testing.T) (StateFile, func() StateFile) {
			f := NewMemStateFile(nil)
			return f, func() StateFile { return NewMemStateFile(f.Bytes()) }
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f, reopen := tc.create(t)
			tr, err := CreateTrackerFile(f, geoms)
			require.NoError(t, err)
			require.NoError(t, tr.Mark(0, 3<<16, 10))
			fr, err := tr.Freeze(context.Background())
			require.NoError(t, err)
			require.NoError(t, fr.Commit(context.Background()))
			require.NoError(t, tr.Mark(1, 0, 1))
			require.NoError(t, tr.Close())

			tr, err = OpenTrackerFile(reopen(), geoms)
			require.NoError(t, err)
			got := dirtySets(t, tr)
			assert.True(t, got[0].Empty())
			assert.Equal(t, []int64{0}, members(got[1]))
			require.NoError(t, tr.Close())
		})
	}

	m := NewMemStateFile([]byte("abc"))
	p := make([]byte, 5)
	n, err := m.ReadAt(p, 1)
	assert.Equal(t, 2, n)
	assert.ErrorIs(t, err, io.EOF)
	require.NoError(t, m.Truncate(1))
	sz, _ := m.Size()
	assert.Equal(t, int64(1), sz)
	require.NoError(t, m.Close())
	_, err = m.WriteAt([]byte("x"), 0)
	assert.Error(t, err)
	assert.Equal(t, []byte("a"), m.Bytes())
}
