package media_test

import (
	"bytes"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/zeebo/blake3"

	"github.com/blockrep/blockrep/transport/media"
)

func TestRoundTrip(t *testing.T) {
	const ps = testPartSize
	sizes := []int{0, 1, ps - 1, ps, ps + 1, 3 * ps, 3*ps + 17}
	chunks := []int{1, 1000, ps, 1 << 20}
	data := randomBytes(t, 3*ps+17)
	for _, size := range sizes {
		for _, chunk := range chunks {
			if chunk == 1 && size > ps+1 {
				continue // byte-by-byte writes of the big sizes add nothing but time
			}
			dir := t.TempDir()
			want := data[:size]
			m := writeStream(t, dir, want, chunk, media.WithLabels(map[string]string{"group": "vm-1"}))

			parts := (size + ps - 1) / ps
			assert.Equal(t, media.FormatVersion, m.Version)
			assert.Equal(t, int64(size), m.Size)
			assert.Equal(t, int64(ps), m.PartSize)
			assert.Equal(t, parts, m.PartCount)
			require.Len(t, m.Parts, parts)
			assert.Equal(t, map[string]string{"group": "vm-1"}, m.Labels)
			names := []string{media.ManifestName}
			for i, p := range m.Parts {
				assert.Equal(t, media.PartName(i+1), p.Name)
				end := min((i+1)*ps, size)
				assert.Equal(t, int64(end-i*ps), p.Size)
				sum := blake3.Sum256(want[i*ps : end])
				assert.Equal(t, hex.EncodeToString(sum[:]), p.BLAKE3)
				content, err := os.ReadFile(partPath(dir, i+1))
				require.NoError(t, err)
				assert.True(t, bytes.Equal(want[i*ps:end], content), "part %d content", i+1)
				names = append(names, p.Name)
			}
			assert.Equal(t, names, dirNames(t, dir), "exactly the manifest and the parts, no temporary file")

			for _, readChunk := range []int{1, 777, ps, 1 << 20} {
				if readChunk == 1 && size > ps+1 {
					continue
				}
				got, err := readAll(t, dir, readChunk)
				require.NoError(t, err, "size %d write %d read %d", size, chunk, readChunk)
				assert.True(t, bytes.Equal(want, got), "size %d write %d read %d: got %d bytes", size, chunk, readChunk, len(got))
			}
		}
	}
}

func TestWriterOptions(t *testing.T) {
	id := [16]byte{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16}
	m := writeStream(t, t.TempDir(), []byte("x"), 1, media.WithStreamID(id))
	assert.Equal(t, "0102030405060708090a0b0c0d0e0f10", m.StreamID)

	a := writeStream(t, t.TempDir(), nil, 1)
	b := writeStream(t, t.TempDir(), nil, 1)
	assert.Len(t, a.StreamID, 32)
	assert.NotEqual(t, a.StreamID, b.StreamID, "random stream ids")

	w, err := media.NewWriter(t.TempDir())
	require.NoError(t, err)
	require.NoError(t, w.Close())
	assert.Equal(t, int64(media.DefaultPartSize), w.Manifest().PartSize)

	labels := map[string]string{"k": "v"}
	dir := t.TempDir()
	w, err = media.NewWriter(dir, media.WithLabels(labels))
	require.NoError(t, err)
	labels["k"] = "changed after the option"
	require.NoError(t, w.Close())
	r, err := media.Open(dir)
	require.NoError(t, err)
	assert.Equal(t, map[string]string{"k": "v"}, r.Manifest().Labels)
	require.NoError(t, r.Close())

	manyLabels := map[string]string{}
	for i := range media.MaxLabels + 1 {
		manyLabels[strings.Repeat("k", i+1)] = "v"
	}
	bad := map[string]media.Option{
		"part size too small": media.WithPartSize(media.MinPartSize - 1),
		"part size too large": media.WithPartSize(media.MaxPartSize + 1),
		"max parts zero":      media.WithMaxParts(0),
		"max parts too large": media.WithMaxParts(media.MaxParts + 1),
		"too many labels":     media.WithLabels(manyLabels),
		"empty label key":     media.WithLabels(map[string]string{"": "v"}),
		"long label key":      media.WithLabels(map[string]string{strings.Repeat("k", media.MaxLabelKeyLen+1): "v"}),
		"long label value":    media.WithLabels(map[string]string{"k": strings.Repeat("v", media.MaxLabelValueLen+1)}),
		"invalid utf8 label":  media.WithLabels(map[string]string{"k": "\xff"}),
	}
	for name, opt := range bad {
		dir := filepath.Join(t.TempDir(), "new")
		_, err := media.NewWriter(dir, opt)
		assert.ErrorIs(t, err, media.ErrLimit, name)
		assert.NoDirExists(t, dir, "%s: a refused writer creates nothing", name)
	}
}

func TestWriterRefusesExistingStream(t *testing.T) {
	for _, name := range []string{media.ManifestName, "manifest.json.tmp", "part-000001.bin", "part-000042.bin", "part-7.bin"} {
		dir := t.TempDir()
		require.NoError(t, os.WriteFile(filepath.Join(dir, name), []byte("old"), 0o644))
		_, err := media.NewWriter(dir)
		assert.ErrorIs(t, err, media.ErrExists, name)
		content, err := os.ReadFile(filepath.Join(dir, name))
		require.NoError(t, err)
		assert.Equal(t, "old", string(content), "nothing touched")
	}

	// Unrelated files are fine, and a missing directory is created.
	dir := filepath.Join(t.TempDir(), "removable", "blockrep")
	require.NoError(t, os.MkdirAll(dir, 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "README.txt"), []byte("hi"), 0o644))
	writeStream(t, dir, []byte("data"), 4)
	assert.Equal(t, []string{"README.txt", media.ManifestName, "part-000001.bin"}, dirNames(t, dir))

	fresh := filepath.Join(t.TempDir(), "a", "b")
	writeStream(t, fresh, []byte("data"), 4)
	assert.FileExists(t, filepath.Join(fresh, media.ManifestName))
}

func TestWriterCloseAndAbort(t *testing.T) {
	dir := t.TempDir()
	w, err := media.NewWriter(dir, media.WithPartSize(testPartSize))
	require.NoError(t, err)
	_, err = w.Write(make([]byte, 2*testPartSize+5))
	require.NoError(t, err)
	assert.Equal(t, media.Manifest{}, w.Manifest(), "nothing committed before Close")
	require.NoError(t, w.Close())
	require.NoError(t, w.Close(), "Close is idempotent")
	_, err = w.Write([]byte("late"))
	assert.ErrorIs(t, err, media.ErrClosed)
	require.NoError(t, w.Abort(), "Abort after Close does nothing")
	assert.Equal(t, 3, w.Manifest().PartCount)
	_, err = media.Verify(t.Context(), dir)
	require.NoError(t, err)

	// Until Close, the directory is an unfinished stream, as after a crash.
	dir = t.TempDir()
	w, err = media.NewWriter(dir, media.WithPartSize(testPartSize))
	require.NoError(t, err)
	_, err = w.Write(make([]byte, 2*testPartSize+5))
	require.NoError(t, err)
	_, err = media.Open(dir)
	assert.ErrorIs(t, err, media.ErrIncomplete)
	_, err = media.NewWriter(dir)
	assert.ErrorIs(t, err, media.ErrExists, "a second writer may not start over the first")
	require.NoError(t, w.Abort())

	// Abort removes what the writer made; the directory takes a new stream.
	dir = t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "keep.txt"), nil, 0o644))
	w, err = media.NewWriter(dir, media.WithPartSize(testPartSize))
	require.NoError(t, err)
	_, err = w.Write(make([]byte, 2*testPartSize+5))
	require.NoError(t, err)
	assert.Equal(t, []string{"keep.txt", "part-000001.bin", "part-000002.bin", "part-000003.bin"}, dirNames(t, dir))
	require.NoError(t, w.Abort())
	assert.Equal(t, []string{"keep.txt"}, dirNames(t, dir))
	assert.ErrorIs(t, w.Close(), media.ErrClosed)
	_, err = w.Write([]byte("x"))
	assert.ErrorIs(t, err, media.ErrClosed)
	_, err = media.Open(dir)
	assert.ErrorIs(t, err, media.ErrIncomplete)
	writeStream(t, dir, []byte("again"), 5)
}

func TestWriterMaxParts(t *testing.T) {
	dir := t.TempDir()
	w, err := media.NewWriter(dir, media.WithPartSize(testPartSize), media.WithMaxParts(2))
	require.NoError(t, err)
	n, err := w.Write(make([]byte, 2*testPartSize))
	require.NoError(t, err, "exactly the limit fits")
	assert.Equal(t, 2*testPartSize, n)
	n, err = w.Write([]byte("one byte too many"))
	assert.ErrorIs(t, err, media.ErrLimit)
	assert.Equal(t, 0, n)
	_, err = w.Write([]byte("x"))
	assert.ErrorIs(t, err, media.ErrLimit, "the error is final")

	// Close does not commit a stream that failed; it clears the parts.
	assert.ErrorIs(t, w.Close(), media.ErrLimit)
	assert.Empty(t, dirNames(t, dir))
	_, err = media.Open(dir)
	assert.ErrorIs(t, err, media.ErrIncomplete)
}
