package delta

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
)

// PointID names a recovery point: 16 random bytes, unique across hosts, so
// that two sides that both became primary can tell their lineages apart.
// The zero PointID means "no point" (the base of an initial replication).
type PointID [16]byte

// NewPointID returns a fresh random id read from r (crypto/rand.Reader
// when r is nil; tests pass a seeded reader for determinism).
func NewPointID(r io.Reader) (PointID, error) {
	if r == nil {
		r = rand.Reader
	}
	var id PointID
	if _, err := io.ReadFull(r, id[:]); err != nil {
		return PointID{}, fmt.Errorf("delta: new point id: %w", err)
	}
	return id, nil
}

// IsZero reports whether id is the zero PointID.
func (id PointID) IsZero() bool { return id == PointID{} }

// String returns the id as 32 lowercase hex digits.
func (id PointID) String() string { return hex.EncodeToString(id[:]) }

// ParsePointID parses 32 hex digits as written by String.
func ParsePointID(s string) (PointID, error) {
	var id PointID
	if len(s) != 2*len(id) {
		// The input is not quoted: it may be anything, of any length.
		return PointID{}, fmt.Errorf("delta: point id of %d characters: want %d hex digits", len(s), 2*len(id))
	}
	if _, err := hex.Decode(id[:], []byte(s)); err != nil {
		return PointID{}, fmt.Errorf("delta: point id %q: %w", s, err)
	}
	return id, nil
}

// MarshalText implements encoding.TextMarshaler (JSON uses it).
func (id PointID) MarshalText() ([]byte, error) { return []byte(id.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler.
func (id *PointID) UnmarshalText(b []byte) error {
	p, err := ParsePointID(string(b))
	if err != nil {
		return err
	}
	*id = p
	return nil
}
