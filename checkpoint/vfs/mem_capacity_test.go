package vfs

import (
	"io"
	"io/fs"
	"math"
	"os"
	"syscall"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestCapacity(t *testing.T) {
	tests := []struct {
		name     string
		capacity int64
		run      func(t *testing.T, m *MemFS) error // the operation under test
		wantErr  bool
		want     map[string]string
		wantUsed int64
	}{
		{
			name: "write up to capacity", capacity: 10,
			run: func(t *testing.T, m *MemFS) error {
				return writeErr(m, "f", "1234567890", 0)
			},
			want: map[string]string{"f": "1234567890"}, wantUsed: 10,
		},
		{
			name: "write past capacity leaves nothing", capacity: 10,
			run: func(t *testing.T, m *MemFS) error {
				require.NoError(t, writeErr(m, "f", "12345", 0))
				return writeErr(m, "f", "abcdef", 5)
			},
			wantErr: true, want: map[string]string{"f": "12345"}, wantUsed: 5,
		},
		{
			name: "hole counts", capacity: 10,
			run: func(t *testing.T, m *MemFS) error {
				return writeErr(m, "f", "x", 10)
			},
			wantErr: true, want: map[string]string{"f": ""}, wantUsed: 0,
		},
		{
			name: "overwrite at full capacity", capacity: 4,
			run: func(t *testing.T, m *MemFS) error {
				require.NoError(t, writeErr(m, "f", "abcd", 0))
				return writeErr(m, "f", "XY", 1)
			},
			want: map[string]string{"f": "aXYd"}, wantUsed: 4,
		},
		{
			name: "capacity spans files", capacity: 6,
			run: func(t *testing.T, m *MemFS) error {
				require.NoError(t, writeErr(m, "a", "abc", 0))
				require.NoError(t, writeErr(m, "b", "abc", 0))
				return writeErr(m, "c", "a", 0)
			},
			wantErr: true, want: map[string]string{"a": "abc", "b": "abc", "c": ""}, wantUsed: 6,
		},
		{
			name: "truncate growth past capacity", capacity: 6,
			run: func(t *testing.T, m *MemFS) error {
				require.NoError(t, writeErr(m, "f", "abc", 0))
				f, err := m.OpenFile("f", os.O_RDWR, 0)
				require.NoError(t, err)
				defer f.Close()
				return f.Truncate(7)
			},
			wantErr: true, want: map[string]string{"f": "abc"}, wantUsed: 3,
		},
		{
			name: "truncate frees space", capacity: 6,
			run: func(t *testing.T, m *MemFS) error {
				require.NoError(t, writeErr(m, "f", "abcdef", 0))
				f, err := m.OpenFile("f", os.O_RDWR, 0)
				require.NoError(t, err)
				require.NoError(t, f.Truncate(1))
				require.NoError(t, f.Close())
				return writeErr(m, "g", "12345", 0)
			},
			want: map[string]string{"f": "a", "g": "12345"}, wantUsed: 6,
		},
		{
			name: "remove frees space", capacity: 6,
			run: func(t *testing.T, m *MemFS) error {
				require.NoError(t, writeErr(m, "f", "abcdef", 0))
				require.NoError(t, m.Remove("f"))
				return writeErr(m, "g", "123456", 0)
			},
			want: map[string]string{"g": "123456"}, wantUsed: 6,
		},
		{
			name: "removeall frees space", capacity: 6,
			run: func(t *testing.T, m *MemFS) error {
				require.NoError(t, m.MkdirAll("d/e", 0o755))
				require.NoError(t, writeErr(m, "d/e/f", "abc", 0))
				require.NoError(t, writeErr(m, "d/f", "abc", 0))
				require.NoError(t, m.RemoveAll("d"))
				return writeErr(m, "g", "123456", 0)
			},
			want: map[string]string{"g": "123456"}, wantUsed: 6,
		},
		{
			name: "rename over a file frees the target", capacity: 6,
			run: func(t *testing.T, m *MemFS) error {
				require.NoError(t, writeErr(m, "f", "abcd", 0))
				require.NoError(t, writeErr(m, "g", "12", 0))
				require.NoError(t, m.Rename("g", "f"))
				return writeErr(m, "h", "wxyz", 0)
			},
			want: map[string]string{"f": "12", "h": "wxyz"}, wantUsed: 6,
		},
		{
			name: "create truncating frees space", capacity: 6,
			run: func(t *testing.T, m *MemFS) error {
				require.NoError(t, writeErr(m, "f", "abcdef", 0))
				f, err := m.Create("f")
				require.NoError(t, err)
				require.NoError(t, f.Close())
				return writeErr(m, "g", "123456", 0)
			},
			want: map[string]string{"f": "", "g": "123456"}, wantUsed: 6,
		},
		{
			name: "a removed open file does not count", capacity: 4,
			run: func(t *testing.T, m *MemFS) error {
				f, err := m.Create("f")
				require.NoError(t, err)
				defer f.Close()
				require.NoError(t, m.Remove("f"))
				_, err = f.Write([]byte("far more than four bytes"))
				require.NoError(t, err)
				return writeErr(m, "g", "1234", 0)
			},
			want: map[string]string{"g": "1234"}, wantUsed: 4,
		},
		{
			name: "negative capacity is unlimited", capacity: -5,
			run: func(t *testing.T, m *MemFS) error {
				return writeErr(m, "f", "abcdefghij", 0)
			},
			want: map[string]string{"f": "abcdefghij"}, wantUsed: 10,
		},
		{
			name: "zero capacity", capacity: 0,
			run: func(t *testing.T, m *MemFS) error {
				return writeErr(m, "f", "a", 0)
			},
			wantErr: true, want: map[string]string{"f": ""}, wantUsed: 0,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := NewMem()
			m.SetCapacity(tt.capacity)
			err := tt.run(t, m)
			if tt.wantErr {
				assert.ErrorIs(t, err, syscall.ENOSPC)
				var pe *fs.PathError
				assert.ErrorAs(t, err, &pe)
			} else {
				assert.NoError(t, err)
			}
			assert.Equal(t, tt.want, strs(m.Snapshot()))
			assert.Equal(t, tt.wantUsed, m.Used())
		})
	}
}

func TestCapacityLoweredBelowUsage(t *testing.T) {
	m := NewMem()
	require.NoError(t, writeErr(m, "f", "abcdef", 0))
	m.SetCapacity(2)
	assert.NoError(t, writeErr(m, "f", "XY", 0), "overwriting does not grow")
	assert.ErrorIs(t, writeErr(m, "f", "Z", 6), syscall.ENOSPC)
	f, err := m.OpenFile("f", os.O_RDWR, 0)
	require.NoError(t, err)
	require.NoError(t, f.Truncate(2), "shrinking is always allowed")
	require.NoError(t, f.Close())
	assert.Equal(t, int64(2), m.Used())
}

// writeErr writes data at off into name, creating it if needed.
func writeErr(m *MemFS, name, data string, off int64) error {
	f, err := m.OpenFile(name, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return err
	}
	defer f.Close()
	_, err = f.WriteAt([]byte(data), off)
	return err
}

func TestMaxFileSize(t *testing.T) {
	m := NewMem()
	f, err := m.Create("f")
	require.NoError(t, err)
	defer f.Close()
	for _, off := range []int64{MaxMemFileSize, MaxMemFileSize + 1, 1 << 62, math.MaxInt64} {
		_, err = f.WriteAt([]byte("x"), off)
		assert.ErrorIs(t, err, syscall.EFBIG, "offset %d", off)
	}
	assert.ErrorIs(t, f.Truncate(MaxMemFileSize+1), syscall.EFBIG)
	_, err = f.Seek(math.MaxInt64-1, io.SeekStart)
	require.NoError(t, err)
	_, err = f.Write([]byte("xyz"))
	assert.ErrorIs(t, err, syscall.EFBIG)
	assert.Equal(t, int64(0), m.Used(), "nothing was allocated")
	got, err := m.ReadFile("f")
	require.NoError(t, err)
	assert.Empty(t, got)
}
