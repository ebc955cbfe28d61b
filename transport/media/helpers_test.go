package media_test

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"testing"

	"github.com/stretchr/testify/require"
	"github.com/zeebo/blake3"

	"github.com/blockrep/blockrep/transport/media"
)

// testPartSize is the part size the tests write with: the smallest
// allowed, so that streams of a few parts stay small.
const testPartSize = media.MinPartSize

// randomBytes returns n bytes from a seeded generator, logging the seed.
func randomBytes(t testing.TB, n int) []byte {
	t.Helper()
	seed := rand.Uint64()
	t.Logf("seed %d", seed)
	r := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

// writeStream writes data into dir in pieces of chunk bytes and returns
// the committed manifest.
func writeStream(t testing.TB, dir string, data []byte, chunk int, opts ...media.Option) media.Manifest {
	t.Helper()
	opts = append([]media.Option{media.WithPartSize(testPartSize)}, opts...)
	w, err := media.NewWriter(dir, opts...)
	require.NoError(t, err)
	for p := data; len(p) > 0; {
		n := min(chunk, len(p))
		written, err := w.Write(p[:n])
		require.NoError(t, err)
		require.Equal(t, n, written)
		p = p[n:]
	}
	require.NoError(t, w.Close())
	return w.Manifest()
}

// readAll opens dir and reads the stream in reads of at most chunk bytes,
// returning what was read before the first error and that error (nil at
// a clean end).
func readAll(t testing.TB, dir string, chunk int) ([]byte, error) {
	t.Helper()
	r, err := media.Open(dir)
	if err != nil {
		return nil, err
	}
	defer func() { require.NoError(t, r.Close()) }()
	got := bytes.NewBuffer([]byte{})
	buf := make([]byte, chunk)
	for {
		n, err := r.Read(buf)
		got.Write(buf[:n])
		if err == io.EOF {
			return got.Bytes(), nil
		}
		if err != nil {
			return got.Bytes(), err
		}
	}
}

// dirNames lists dir's file names, sorted.
func dirNames(t testing.TB, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	slices.Sort(names)
	return names
}

// forgeManifest rewrites dir's manifest after edit, with a valid checksum:
// what an attacker who knows the format can do. It shows that the checks
// beyond the checksum hold.
func forgeManifest(t testing.TB, dir string, edit func(m *media.Manifest)) {
	t.Helper()
	path := filepath.Join(dir, media.ManifestName)
	data, err := os.ReadFile(path)
	require.NoError(t, err)
	var file struct {
		Manifest json.RawMessage `json:"manifest"`
		BLAKE3   string          `json:"blake3"`
	}
	require.NoError(t, json.Unmarshal(data, &file))
	var m media.Manifest
	require.NoError(t, json.Unmarshal(file.Manifest, &m))
	edit(&m)
	body, err := json.Marshal(m)
	require.NoError(t, err)
	sum := blake3.Sum256(body)
	file.Manifest, file.BLAKE3 = body, hex.EncodeToString(sum[:])
	out, err := json.Marshal(file)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(path, append(out, '\n'), 0o644))
}

func partPath(dir string, n int) string {
	return filepath.Join(dir, media.PartName(n))
}

func fmtInt(i int) string { return strconv.Itoa(i) }
