package media

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

	"github.com/zeebo/blake3"
)

// ManifestName is the manifest's file name in a stream's directory. Its
// presence marks the stream complete: the Writer renames it into place
// last.
const ManifestName = "manifest.json"

// manifestTemp is the name the manifest is written under before the rename.
const manifestTemp = ManifestName + ".tmp"

// FormatVersion is the manifest format this package writes and reads.
const FormatVersion = 1

// Manifest describes a stream written to a directory: its parts in order,
// with their sizes and checksums, and the caller's labels.
type Manifest struct {
	Version   int               `json:"version"`          // FormatVersion
	StreamID  string            `json:"streamID"`         // 32 lowercase hex digits, random unless WithStreamID
	Size      int64             `json:"size"`             // total bytes of the stream
	PartSize  int64             `json:"partSize"`         // size of every part but the last
	PartCount int               `json:"partCount"`        // len(Parts)
	Parts     []Part            `json:"parts"`            // in stream order
	Labels    map[string]string `json:"labels,omitempty"` // from WithLabels
}

// Part is one file of a stream.
type Part struct {
	Name   string `json:"name"`   // PartName(number), nothing else is accepted
	Size   int64  `json:"size"`   // bytes, 1..PartSize
	BLAKE3 string `json:"blake3"` // BLAKE3-256 of the part's bytes, 64 lowercase hex digits
}

// PartName returns the file name of part number n (1-based):
// "part-000001.bin" for 1.
func PartName(n int) string {
	return fmt.Sprintf("part-%06d.bin", n)
}

// parsePartName returns the number in a name shaped like a part file
// ("part-*.bin"), ok false when the name is not shaped so at all, and
// number 0 when it is but does not carry a canonical number.
func parsePartName(name string) (n int, ok bool) {
	digits, ok := strings.CutPrefix(name, "part-")
	if !ok {
		return 0, false
	}
	digits, ok = strings.CutSuffix(digits, ".bin")
	if !ok {
		return 0, false
	}
	n, err := strconv.Atoi(digits)
	if err != nil || n < 1 || PartName(n) != name {
		return 0, true
	}
	return n, true
}

// manifestFile is the manifest file's outer shape: the manifest and the
// BLAKE3 of its exact encoded bytes, so that a change to any byte of the
// file is caught (the rest is caught by requiring the canonical form).
type manifestFile struct {
	Manifest json.RawMessage `json:"manifest"`
	BLAKE3   string          `json:"blake3"`
}

// encodeManifest returns the manifest file's bytes: canonical JSON on one
// line, ending in a newline.
func encodeManifest(m Manifest) ([]byte, error) {
	if m.Parts == nil {
		m.Parts = []Part{}
	}
	body, err := json.Marshal(m)
	if err != nil {
		return nil, fmt.Errorf("media: encode manifest: %w", err)
	}
	sum := blake3.Sum256(body)
	out, err := json.Marshal(manifestFile{Manifest: body, BLAKE3: hex.EncodeToString(sum[:])})
	if err != nil {
		return nil, fmt.Errorf("media: encode manifest: %w", err)
	}
	return append(out, '\n'), nil
}

// decodeManifest parses and checks a manifest file's bytes. Every error
// wraps ErrCorrupt.
func decodeManifest(data []byte, maxParts int) (Manifest, error) {
	if len(data) > MaxManifestSize {
		return Manifest{}, corruptManifest("%d bytes, at most %d", len(data), MaxManifestSize)
	}
	var file manifestFile
	if err := strictUnmarshal(data, &file); err != nil {
		return Manifest{}, corruptManifest("%v", err)
	}
	if len(file.Manifest) == 0 {
		return Manifest{}, corruptManifest("no manifest body")
	}
	sum := blake3.Sum256(file.Manifest)
	if file.BLAKE3 != hex.EncodeToString(sum[:]) {
		return Manifest{}, corruptManifest("checksum mismatch")
	}
	var m Manifest
	if err := strictUnmarshal(file.Manifest, &m); err != nil {
		return Manifest{}, corruptManifest("%v", err)
	}
	if err := m.validate(maxParts); err != nil {
		return Manifest{}, err
	}
	canonical, err := encodeManifest(m)
	if err != nil || !bytes.Equal(canonical, data) {
		return Manifest{}, corruptManifest("not in canonical form")
	}
	return m, nil
}

func strictUnmarshal(data []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if dec.More() {
		return fmt.Errorf("trailing data")
	}
	return nil
}

// validate checks the manifest's fields against each other and the
// bounds. Errors wrap ErrCorrupt; those about one part are *PartError.
func (m *Manifest) validate(maxParts int) error {
	switch {
	case m.Version != FormatVersion:
		return corruptManifest("format version %d, this reader knows %d", m.Version, FormatVersion)
	case !isLowerHex(m.StreamID, 32):
		return corruptManifest("stream id %q is not 32 lowercase hex digits", m.StreamID)
	case m.PartSize < MinPartSize || m.PartSize > MaxPartSize:
		return corruptManifest("part size %d outside [%d, %d]", m.PartSize, MinPartSize, MaxPartSize)
	case m.Size < 0:
		return corruptManifest("negative size %d", m.Size)
	case m.PartCount != len(m.Parts):
		return corruptManifest("part count %d but %d parts listed", m.PartCount, len(m.Parts))
	case m.PartCount > maxParts:
		return corruptManifest("%d parts, at most %d allowed", m.PartCount, maxParts)
	}
	// Size and PartSize are bounded, so the division cannot overflow.
	if want := (m.Size + m.PartSize - 1) / m.PartSize; int64(m.PartCount) != want {
		return corruptManifest("%d parts for %d bytes in parts of %d, want %d", m.PartCount, m.Size, m.PartSize, want)
	}
	if err := validateLabels(m.Labels); err != nil {
		return corruptManifest("%v", err)
	}
	var total int64
	for i, p := range m.Parts {
		n := i + 1
		if p.Name != PartName(n) {
			return corruptPart(n, p.Name, "manifest names %q where %q belongs", p.Name, PartName(n))
		}
		last := n == len(m.Parts)
		switch {
		case !last && p.Size != m.PartSize:
			return corruptPart(n, p.Name, "manifest size %d, every part but the last has %d", p.Size, m.PartSize)
		case last && (p.Size < 1 || p.Size > m.PartSize):
			return corruptPart(n, p.Name, "manifest size %d outside [1, %d]", p.Size, m.PartSize)
		case !isLowerHex(p.BLAKE3, 64):
			return corruptPart(n, p.Name, "manifest checksum %q is not 64 lowercase hex digits", p.BLAKE3)
		}
		total += p.Size
	}
	if total != m.Size {
		return corruptManifest("parts add up to %d bytes, size says %d", total, m.Size)
	}
	return nil
}

func isLowerHex(s string, n int) bool {
	if len(s) != n {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

// clone returns a deep copy, so callers cannot change a Reader's or
// Writer's manifest through the one they were given.
func (m Manifest) clone() Manifest {
	m.Parts = append([]Part(nil), m.Parts...)
	if m.Labels != nil {
		labels := make(map[string]string, len(m.Labels))
		for k, v := range m.Labels {
			labels[k] = v
		}
		m.Labels = labels
	}
	return m
}
