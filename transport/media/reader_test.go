package media_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/blockrep/blockrep/transport/media"
)

// corruptParts is the part count of the streams the corruption tests
// damage: enough for a first, middle and last part.
const corruptParts = 4

// newDamageable writes a stream of corruptParts parts, the last one short,
// and returns its directory and contents.
func newDamageable(t *testing.T, data []byte) string {
	t.Helper()
	dir := t.TempDir()
	m := writeStream(t, dir, data, 1<<20)
	require.Equal(t, corruptParts, m.PartCount)
	return dir
}

func streamData(t *testing.T) []byte {
	return randomBytes(t, (corruptParts-1)*testPartSize+1234)
}

// assertPartError checks that err is a *PartError for part n wrapping
// class.
func assertPartError(t *testing.T, err error, n int, class error) {
	t.Helper()
	require.Error(t, err)
	assert.ErrorIs(t, err, class)
	for _, other := range []error{media.ErrCorrupt, media.ErrIncomplete} {
		if other != class {
			assert.NotErrorIs(t, err, other)
		}
	}
	var pe *media.PartError
	require.ErrorAs(t, err, &pe)
	assert.Equal(t, n, pe.Part)
	if n > 0 {
		assert.Equal(t, media.PartName(n), pe.Name)
	}
	assert.NotEmpty(t, pe.Reason)
}

func TestMissingPart(t *testing.T) {
	data := streamData(t)
	for n := 1; n <= corruptParts; n++ {
		dir := newDamageable(t, data)
		require.NoError(t, os.Remove(partPath(dir, n)))
		_, err := media.Open(dir)
		assertPartError(t, err, n, media.ErrIncomplete)
		_, err = media.Verify(t.Context(), dir)
		assertPartError(t, err, n, media.ErrIncomplete)
	}
}

func TestTruncatedPart(t *testing.T) {
	data := streamData(t)
	for n := 1; n <= corruptParts; n++ {
		for _, cut := range []int64{1, 100} {
			dir := newDamageable(t, data)
			fi, err := os.Stat(partPath(dir, n))
			require.NoError(t, err)
			require.NoError(t, os.Truncate(partPath(dir, n), fi.Size()-cut))
			_, err = media.Open(dir)
			assertPartError(t, err, n, media.ErrCorrupt)
		}
		dir := newDamageable(t, data)
		require.NoError(t, os.Truncate(partPath(dir, n), 0))
		_, err := media.Verify(t.Context(), dir)
		assertPartError(t, err, n, media.ErrCorrupt)

		// A part that grew is refused as well.
		dir = newDamageable(t, data)
		f, err := os.OpenFile(partPath(dir, n), os.O_APPEND|os.O_WRONLY, 0)
		require.NoError(t, err)
		_, err = f.Write([]byte{0})
		require.NoError(t, err)
		require.NoError(t, f.Close())
		_, err = media.Open(dir)
		assertPartError(t, err, n, media.ErrCorrupt)
	}
}

// TestTruncatedWhileReading cuts a part after Open checked its size.
func TestTruncatedWhileReading(t *testing.T) {
	data := streamData(t)
	for n := 1; n <= corruptParts; n++ {
		dir := newDamageable(t, data)
		r, err := media.Open(dir)
		require.NoError(t, err)
		require.NoError(t, os.Truncate(partPath(dir, n), 10))
		got, err := io.ReadAll(r)
		assertPartError(t, err, n, media.ErrCorrupt)
		assert.True(t, bytes.Equal(data[:(n-1)*testPartSize], got), "every earlier part whole, nothing of the cut one: got %d bytes", len(got))
		require.NoError(t, r.Close())
	}
}

func TestAlteredByte(t *testing.T) {
	data := streamData(t)
	for n := 1; n <= corruptParts; n++ {
		fi, err := os.Stat(partPath(newDamageable(t, data), n))
		require.NoError(t, err)
		for _, off := range []int64{0, fi.Size() / 2, fi.Size() - 1} {
			dir := newDamageable(t, data)
			f, err := os.OpenFile(partPath(dir, n), os.O_RDWR, 0)
			require.NoError(t, err)
			var b [1]byte
			_, err = f.ReadAt(b[:], off)
			require.NoError(t, err)
			b[0] ^= 0x40
			_, err = f.WriteAt(b[:], off)
			require.NoError(t, err)
			require.NoError(t, f.Close())

			_, err = media.Verify(t.Context(), dir)
			assertPartError(t, err, n, media.ErrCorrupt)

			// Streaming: earlier parts come whole, the damaged part never
			// does, whatever the read size.
			for _, chunk := range []int{100, testPartSize, 1 << 20} {
				got, err := readAll(t, dir, chunk)
				assertPartError(t, err, n, media.ErrCorrupt)
				start := (n - 1) * testPartSize
				require.GreaterOrEqual(t, len(got), start)
				assert.Less(t, len(got), start+int(fi.Size()), "the damaged part is never handed out whole")
				k := min(len(got), start+int(off))
				assert.True(t, bytes.Equal(data[:k], got[:k]), "bytes before the damage are the stream's")
			}
		}
	}
}

func TestSwappedParts(t *testing.T) {
	data := streamData(t)
	for n := 1; n < corruptParts-1; n++ { // parts of equal size
		dir := newDamageable(t, data)
		a, b := partPath(dir, n), partPath(dir, n+1)
		tmp := filepath.Join(dir, "swap")
		require.NoError(t, os.Rename(a, tmp))
		require.NoError(t, os.Rename(b, a))
		require.NoError(t, os.Rename(tmp, b))
		_, err := media.Open(dir)
		require.NoError(t, err, "sizes match, so Open cannot tell")
		_, err = media.Verify(t.Context(), dir)
		assertPartError(t, err, n, media.ErrCorrupt)
	}
}

func TestExtraPart(t *testing.T) {
	data := streamData(t)
	for _, name := range []string{media.PartName(corruptParts + 1), media.PartName(999999), "part-1.bin", "part-0000001.bin", "part-000000.bin", "part-.bin"} {
		dir := newDamageable(t, data)
		require.NoError(t, os.WriteFile(filepath.Join(dir, name), []byte("intruder"), 0o644))
		_, err := media.Open(dir)
		require.ErrorIs(t, err, media.ErrCorrupt, name)
		var pe *media.PartError
		require.ErrorAs(t, err, &pe)
		assert.Equal(t, name, pe.Name)
	}

	// Files that are not shaped like parts are none of the reader's business.
	dir := newDamageable(t, data)
	for _, name := range []string{"README.txt", "part-000001.bin.bak", "xpart-000001.bin", ".part-000001.bin"} {
		require.NoError(t, os.WriteFile(filepath.Join(dir, name), nil, 0o644))
	}
	require.NoError(t, os.Mkdir(filepath.Join(dir, "sub"), 0o755))
	got, err := readAll(t, dir, 1<<20)
	require.NoError(t, err)
	assert.True(t, bytes.Equal(data, got))
}

func TestManifestMissingOrUnfinished(t *testing.T) {
	data := streamData(t)
	dir := newDamageable(t, data)
	require.NoError(t, os.Remove(filepath.Join(dir, media.ManifestName)))
	_, err := media.Open(dir)
	assert.ErrorIs(t, err, media.ErrIncomplete)
	assert.NotErrorIs(t, err, media.ErrCorrupt)

	// A crash between writing the temporary manifest and the rename.
	dir = newDamageable(t, data)
	require.NoError(t, os.Rename(filepath.Join(dir, media.ManifestName), filepath.Join(dir, "manifest.json.tmp")))
	_, err = media.Verify(t.Context(), dir)
	assert.ErrorIs(t, err, media.ErrIncomplete)

	_, err = media.Open(filepath.Join(t.TempDir(), "nowhere"))
	assert.ErrorIs(t, err, os.ErrNotExist)
}

// TestManifestEveryByte alters, in turn, every byte of a small stream's
// manifest file, and cuts the file at every length: Open refuses each.
func TestManifestEveryByte(t *testing.T) {
	dir := t.TempDir()
	writeStream(t, dir, []byte("a small stream, two parts with a long label"), 64, media.WithLabels(map[string]string{"group": "vm-1", "point": "p<&>"}))
	path := filepath.Join(dir, media.ManifestName)
	orig, err := os.ReadFile(path)
	require.NoError(t, err)
	t.Logf("manifest: %s", orig)

	check := func(what string, data []byte) {
		t.Helper()
		require.NoError(t, os.WriteFile(path, data, 0o644))
		_, err := media.Open(dir)
		if !errors.Is(err, media.ErrCorrupt) {
			t.Errorf("%s: got %v, want ErrCorrupt", what, err)
		}
	}
	for i := range orig {
		for _, x := range []byte{0x01, 0x20, 0x80} {
			data := append([]byte(nil), orig...)
			data[i] ^= x
			check("byte "+itoa(i)+" xor "+itoa(int(x)), data)
		}
		check("cut at "+itoa(i), orig[:i])
		check("byte "+itoa(i)+" removed", append(append([]byte(nil), orig[:i]...), orig[i+1:]...))
		check("space before byte "+itoa(i), append(append(append([]byte(nil), orig[:i]...), ' '), orig[i:]...))
	}
	check("appended newline", append(append([]byte(nil), orig...), '\n'))

	require.NoError(t, os.WriteFile(path, orig, 0o644))
	_, err = media.Verify(t.Context(), dir)
	require.NoError(t, err, "the original still passes")
}

func itoa(i int) string { return fmtInt(i) }

func TestForgedManifest(t *testing.T) {
	data := streamData(t)
	tests := []struct {
		name string
		edit func(m *media.Manifest)
		part int // expected *PartError part number, -1 for a manifest-level error
	}{
		{"slash in name", func(m *media.Manifest) { m.Parts[1].Name = "sub/part-000002.bin" }, 2},
		{"dotdot name", func(m *media.Manifest) { m.Parts[0].Name = "../part-000001.bin" }, 1},
		{"absolute name", func(m *media.Manifest) { m.Parts[2].Name = "/etc/passwd" }, 3},
		{"bare dotdot", func(m *media.Manifest) { m.Parts[3].Name = ".." }, 4},
		{"non-canonical name", func(m *media.Manifest) { m.Parts[0].Name = "part-1.bin" }, 1},
		{"names swapped", func(m *media.Manifest) { m.Parts[0].Name, m.Parts[1].Name = m.Parts[1].Name, m.Parts[0].Name }, 1},
		{"checksums swapped", func(m *media.Manifest) { m.Parts[0].BLAKE3, m.Parts[1].BLAKE3 = m.Parts[1].BLAKE3, m.Parts[0].BLAKE3 }, 1},
		{"uppercase checksum", func(m *media.Manifest) { m.Parts[2].BLAKE3 = "AB" + m.Parts[2].BLAKE3[2:] }, 3},
		{"short checksum", func(m *media.Manifest) { m.Parts[2].BLAKE3 = m.Parts[2].BLAKE3[:10] }, 3},
		{"middle part short", func(m *media.Manifest) { m.Parts[1].Size--; m.Size-- }, 2},
		{"last part empty", func(m *media.Manifest) { m.Size -= m.Parts[3].Size; m.Parts[3].Size = 0 }, -1},
		{"part dropped", func(m *media.Manifest) { m.Parts = m.Parts[:3]; m.PartCount = 3; m.Size = 3 * testPartSize }, 4}, // its file is now unlisted
		{"count disagrees", func(m *media.Manifest) { m.PartCount = 3 }, -1},
		{"size disagrees", func(m *media.Manifest) { m.Size++ }, -1},
		{"negative size", func(m *media.Manifest) { m.Size = -1 }, -1},
		{"huge size", func(m *media.Manifest) { m.Size = 1<<63 - 1 }, -1},
		{"part size too small", func(m *media.Manifest) { m.PartSize = 1 }, -1},
		{"version", func(m *media.Manifest) { m.Version = 2 }, -1},
		{"stream id", func(m *media.Manifest) { m.StreamID = "../../etc" }, -1},
		{"empty label key", func(m *media.Manifest) { m.Labels = map[string]string{"": "x"} }, -1},
		{"too many parts", func(m *media.Manifest) {
			m.Parts = make([]media.Part, media.MaxParts+1)
			m.PartCount = len(m.Parts)
		}, -1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := newDamageable(t, data)
			forgeManifest(t, dir, tt.edit)
			_, err := media.Verify(t.Context(), dir)
			require.ErrorIs(t, err, media.ErrCorrupt)
			var pe *media.PartError
			if tt.part < 0 {
				assert.False(t, errors.As(err, &pe), "manifest-level error, got %v", err)
				return
			}
			require.ErrorAs(t, err, &pe)
			assert.Equal(t, tt.part, pe.Part)
		})
	}

	// The forger's tool itself produces an acceptable manifest.
	dir := newDamageable(t, data)
	forgeManifest(t, dir, func(*media.Manifest) {})
	got, err := readAll(t, dir, 1<<20)
	require.NoError(t, err)
	assert.True(t, bytes.Equal(data, got))
}

func TestReaderMaxParts(t *testing.T) {
	dir := newDamageable(t, streamData(t))
	_, err := media.Open(dir, media.WithMaxParts(corruptParts-1))
	assert.ErrorIs(t, err, media.ErrCorrupt)
	r, err := media.Open(dir, media.WithMaxParts(corruptParts))
	require.NoError(t, err)
	require.NoError(t, r.Close())
	_, err = media.Open(dir, media.WithMaxParts(0))
	assert.ErrorIs(t, err, media.ErrLimit)
}

func TestNotRegularFiles(t *testing.T) {
	data := streamData(t)
	outside := filepath.Join(t.TempDir(), "outside")
	require.NoError(t, os.WriteFile(outside, data[:testPartSize], 0o644))

	// A part replaced by a symbolic link, even to identical bytes.
	dir := newDamageable(t, data)
	require.NoError(t, os.Remove(partPath(dir, 1)))
	require.NoError(t, os.Symlink(outside, partPath(dir, 1)))
	_, err := media.Open(dir)
	assertPartError(t, err, 1, media.ErrCorrupt)

	// A part replaced by a directory.
	dir = newDamageable(t, data)
	require.NoError(t, os.Remove(partPath(dir, 2)))
	require.NoError(t, os.Mkdir(partPath(dir, 2), 0o755))
	_, err = media.Open(dir)
	assertPartError(t, err, 2, media.ErrCorrupt)

	// A manifest that is a symbolic link.
	dir = newDamageable(t, data)
	manifest := filepath.Join(dir, media.ManifestName)
	moved := filepath.Join(t.TempDir(), "manifest")
	require.NoError(t, os.Rename(manifest, moved))
	require.NoError(t, os.Symlink(moved, manifest))
	_, err = media.Open(dir)
	assert.ErrorIs(t, err, media.ErrCorrupt)
}

func TestManifestTooLarge(t *testing.T) {
	dir := newDamageable(t, streamData(t))
	// A sparse file: checked by size before a byte of it is read.
	require.NoError(t, os.Truncate(filepath.Join(dir, media.ManifestName), media.MaxManifestSize+1))
	_, err := media.Open(dir)
	assert.ErrorIs(t, err, media.ErrCorrupt)
}

func TestReaderLifecycle(t *testing.T) {
	data := streamData(t)
	dir := newDamageable(t, data)
	r, err := media.Open(dir)
	require.NoError(t, err)
	m := r.Manifest()
	m.Parts[0].Name = "changed"
	m.Labels = map[string]string{"x": "y"}
	assert.Equal(t, media.PartName(1), r.Manifest().Parts[0].Name, "Manifest returns a copy")
	assert.Nil(t, r.Manifest().Labels)

	n, err := r.Read(nil)
	assert.Equal(t, 0, n)
	require.NoError(t, err)

	var sink writerFunc = func(p []byte) (int, error) { return len(p), nil }
	total, err := r.WriteTo(sink)
	require.NoError(t, err)
	assert.Equal(t, int64(len(data)), total)
	_, err = r.Read(make([]byte, 10))
	assert.Equal(t, io.EOF, err, "EOF stays")

	require.NoError(t, r.Close())
	require.NoError(t, r.Close(), "Close is idempotent")
	_, err = r.Read(make([]byte, 10))
	assert.ErrorIs(t, err, media.ErrClosed)

	// Closing in the middle of a part releases it.
	r, err = media.Open(dir)
	require.NoError(t, err)
	_, err = r.Read(make([]byte, 10))
	require.NoError(t, err)
	require.NoError(t, r.Close())
}

type writerFunc func(p []byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }

func TestVerify(t *testing.T) {
	data := streamData(t)
	dir := t.TempDir()
	written := writeStream(t, dir, data, 4096, media.WithLabels(map[string]string{"group": "g"}))
	m, err := media.Verify(t.Context(), dir)
	require.NoError(t, err)
	assert.Equal(t, written, m)

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err = media.Verify(ctx, dir)
	assert.ErrorIs(t, err, context.Canceled)
}
