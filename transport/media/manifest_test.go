package media

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// seedManifests returns the manifest files kept in testdata/manifests,
// written by this package's Writer.
func seedManifests(t testing.TB) map[string][]byte {
	t.Helper()
	paths, err := filepath.Glob(filepath.Join("testdata", "manifests", "*.json"))
	if err != nil || len(paths) == 0 {
		t.Fatalf("no seed manifests: %v", err)
	}
	seeds := map[string][]byte{}
	for _, p := range paths {
		data, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		seeds[filepath.Base(p)] = data
	}
	return seeds
}

func TestDecodeSeedManifests(t *testing.T) {
	for name, data := range seedManifests(t) {
		m, err := decodeManifest(data, MaxParts)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		again, err := encodeManifest(m)
		if err != nil || !bytes.Equal(again, data) {
			t.Errorf("%s: re-encoding differs (%v)", name, err)
		}
		if _, err := decodeManifest(data, m.PartCount); err != nil {
			t.Errorf("%s: refused at a limit equal to its part count: %v", name, err)
		}
		if m.PartCount > 0 {
			if _, err := decodeManifest(data, m.PartCount-1); !errors.Is(err, ErrCorrupt) {
				t.Errorf("%s: accepted over the part limit: %v", name, err)
			}
		}
	}
}

// TestDecodeManifestEveryBit flips every bit of every byte of each seed
// manifest in turn: the decoder refuses every one with ErrCorrupt.
func TestDecodeManifestEveryBit(t *testing.T) {
	for name, orig := range seedManifests(t) {
		data := bytes.Clone(orig)
		for i := range data {
			for bit := range 8 {
				data[i] ^= 1 << bit
				if _, err := decodeManifest(data, MaxParts); !errors.Is(err, ErrCorrupt) {
					t.Errorf("%s: byte %d bit %d flipped: got %v, want ErrCorrupt", name, i, bit, err)
				}
				data[i] ^= 1 << bit
			}
		}
	}
}

func TestParsePartName(t *testing.T) {
	tests := []struct {
		name   string
		n      int
		isPart bool
	}{
		{"part-000001.bin", 1, true},
		{"part-999999.bin", 999999, true},
		{"part-000000.bin", 0, true},
		{"part-1.bin", 0, true},
		{"part-0000001.bin", 0, true},
		{"part--00001.bin", 0, true},
		{"part-+00001.bin", 0, true},
		{"part-.bin", 0, true},
		{"part-000001.bin.tmp", 0, false},
		{"manifest.json", 0, false},
		{"../part-000001.bin", 0, false},
	}
	for _, tt := range tests {
		n, isPart := parsePartName(tt.name)
		if n != tt.n || isPart != tt.isPart {
			t.Errorf("parsePartName(%q) = %d, %v; want %d, %v", tt.name, n, isPart, tt.n, tt.isPart)
		}
	}
	if PartName(1) != "part-000001.bin" || PartName(MaxParts) != "part-100000.bin" {
		t.Errorf("PartName: %q, %q", PartName(1), PartName(MaxParts))
	}
}

// FuzzManifest feeds arbitrary bytes to the manifest decoder. Whatever it
// accepts is canonical (re-encodes to the same bytes), within the limits,
// and names only the expected part files; whatever it refuses wraps
// ErrCorrupt.
func FuzzManifest(f *testing.F) {
	for _, data := range seedManifests(f) {
		f.Add(data)
		f.Add(data[:len(data)/2])
		f.Add(bytes.Replace(data, []byte("part-000001.bin"), []byte("../etc/passwd.."), 1))
	}
	f.Add([]byte(`{"manifest":null,"blake3":""}`))
	f.Add([]byte(`{}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := decodeManifest(data, MaxParts)
		if err != nil {
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("error %v does not wrap ErrCorrupt", err)
			}
			return
		}
		again, err := encodeManifest(m)
		if err != nil || !bytes.Equal(again, data) {
			t.Fatalf("accepted a manifest that does not re-encode to itself (%v)", err)
		}
		if m.PartCount != len(m.Parts) || m.PartCount > MaxParts {
			t.Fatalf("part count %d, %d parts", m.PartCount, len(m.Parts))
		}
		var total int64
		for i, p := range m.Parts {
			if p.Name != PartName(i+1) || strings.ContainsAny(p.Name, `/\`) || !filepath.IsLocal(p.Name) {
				t.Fatalf("part %d named %q", i+1, p.Name)
			}
			if p.Size < 1 || p.Size > m.PartSize {
				t.Fatalf("part %d of %d bytes", i+1, p.Size)
			}
			total += p.Size
		}
		if total != m.Size {
			t.Fatalf("parts total %d, size %d", total, m.Size)
		}
	})
}
