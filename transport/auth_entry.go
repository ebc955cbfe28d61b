package transport

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"path"
	"path/filepath"
	"strings"
	"unicode/utf8"
)

// Bounds on an authorization list. They keep a hostile or mistaken list
// (it comes from a file the CLI reads) from costing unbounded memory or
// matching time.
const (
	// MaxAuthEntries is the largest number of entries an Authorizer holds.
	MaxAuthEntries = 10000

	// MaxAuthFieldLen is the longest Peer, Group, Storage or TrustGroup
	// value, in bytes.
	MaxAuthFieldLen = 1024

	// MaxAuthListSize is the largest JSON document ParseAuthEntries reads.
	MaxAuthListSize = 8 << 20
)

// ErrInvalidAuthEntry is returned (inside an *AuthEntryError) by
// NewAuthorizer, Authorizer.Set, AuthEntry.Validate and ParseAuthEntries
// when an entry has a malformed or empty pattern, an unsafe storage
// location, or a field over MaxAuthFieldLen; and by NewAuthorizer when an
// option's value is invalid.
var ErrInvalidAuthEntry = errors.New("transport: invalid authorization entry")

// AuthEntryError says which entry of an authorization list is invalid and
// why. It wraps ErrInvalidAuthEntry.
type AuthEntryError struct {
	Index  int    // position of the entry in the list, -1 for a single entry or an option
	Field  string // "peer", "group", "storage", "trustGroup", or "" for the list itself
	Reason string // what is wrong, in a few words
}

func (e *AuthEntryError) Error() string {
	var b strings.Builder
	b.WriteString("transport: invalid authorization entry")
	if e.Index >= 0 {
		fmt.Fprintf(&b, " %d", e.Index)
	}
	if e.Field != "" {
		b.WriteString(": " + e.Field)
	}
	return b.String() + ": " + e.Reason
}

func (e *AuthEntryError) Unwrap() error { return ErrInvalidAuthEntry }

// AuthEntry allows the peers whose identity matches Peer to replicate the
// groups whose id matches Group into the storage location Storage. It is
// the replica side's equivalent of a Hyper-V authorization entry.
//
// Peer and Group are path.Match patterns: "*" matches any run of
// characters except '/', "?" one character, "[a-z]" a class, and "\\"
// escapes. "*.dc1.example" matches every host of dc1; "*" matches every
// name without a slash. An exact name is a pattern without metacharacters.
type AuthEntry struct {
	// Peer is the pattern of the peer identity (Identity.Name) allowed.
	Peer string `json:"peer"`

	// Group is the pattern of the group ids the peer may replicate.
	Group string `json:"group"`

	// Storage is where the replica keeps those groups: a slash-separated
	// path relative to the replica's store root, clean, without ".."
	// elements, not absolute ("." is the root itself).
	Storage string `json:"storage"`

	// TrustGroup, when not empty, puts the entry in a trust group: any peer
	// allowed by an entry of a trust group may replicate the groups of
	// every entry of that trust group (see Authorizer.Authorize).
	TrustGroup string `json:"trustGroup,omitempty"`
}

// Validate reports whether the entry is well formed: both patterns valid
// and non-empty, Storage a safe relative location, every field within
// MaxAuthFieldLen and valid UTF-8. The error wraps ErrInvalidAuthEntry.
func (e AuthEntry) Validate() error {
	return e.validate(-1)
}

func (e AuthEntry) validate(index int) error {
	bad := func(field, reason string) error {
		return &AuthEntryError{Index: index, Field: field, Reason: reason}
	}
	for _, f := range []struct{ name, value string }{
		{"peer", e.Peer}, {"group", e.Group}, {"storage", e.Storage}, {"trustGroup", e.TrustGroup},
	} {
		if len(f.value) > MaxAuthFieldLen {
			return bad(f.name, fmt.Sprintf("longer than %d bytes", MaxAuthFieldLen))
		}
		if !utf8.ValidString(f.value) {
			return bad(f.name, "not valid UTF-8")
		}
		if strings.ContainsFunc(f.value, isControl) {
			return bad(f.name, "contains a control character")
		}
	}
	if err := validatePattern(e.Peer); err != "" {
		return bad("peer", err)
	}
	if err := validatePattern(e.Group); err != "" {
		return bad("group", err)
	}
	if err := validateStorage(e.Storage); err != "" {
		return bad("storage", err)
	}
	return nil
}

func isControl(r rune) bool { return r < 0x20 || r == 0x7f }

// validatePattern returns why p is not a usable pattern, or "".
func validatePattern(p string) string {
	if p == "" {
		return "empty pattern (use \"*\" to match any name)"
	}
	// path.Match checks the syntax of the whole pattern even when the
	// name does not match, so matching the empty name validates it.
	if _, err := path.Match(p, ""); err != nil {
		return fmt.Sprintf("malformed pattern %q", p)
	}
	return ""
}

// validateStorage returns why s is not a safe storage location, or "".
func validateStorage(s string) string {
	switch {
	case s == "":
		return "empty"
	case strings.ContainsRune(s, '\\'):
		return fmt.Sprintf("%q contains a backslash", s)
	case path.IsAbs(s) || filepath.IsAbs(s) || filepath.VolumeName(s) != "":
		return fmt.Sprintf("%q is absolute", s)
	case path.Clean(s) != s:
		return fmt.Sprintf("%q is not clean (want %q)", s, path.Clean(s))
	}
	for _, elem := range strings.Split(s, "/") {
		if elem == ".." {
			return fmt.Sprintf("%q leaves the store root", s)
		}
	}
	if !filepath.IsLocal(filepath.FromSlash(s)) {
		return fmt.Sprintf("%q is not a local path", s)
	}
	return ""
}

// ParseAuthEntries decodes a JSON array of AuthEntry (as the CLI keeps in
// a file) and validates every entry. It refuses documents over
// MaxAuthListSize, unknown fields, trailing data and lists over
// MaxAuthEntries; the error wraps ErrInvalidAuthEntry.
func ParseAuthEntries(data []byte) ([]AuthEntry, error) {
	if len(data) > MaxAuthListSize {
		return nil, &AuthEntryError{Index: -1, Reason: fmt.Sprintf("list of %d bytes, at most %d allowed", len(data), MaxAuthListSize)}
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	tok, err := dec.Token()
	if err != nil || tok != json.Delim('[') {
		return nil, &AuthEntryError{Index: -1, Reason: "not a JSON array"}
	}
	entries := []AuthEntry{}
	for dec.More() {
		if len(entries) == MaxAuthEntries {
			return nil, &AuthEntryError{Index: -1, Reason: fmt.Sprintf("more than %d entries", MaxAuthEntries)}
		}
		var e AuthEntry
		if err := dec.Decode(&e); err != nil {
			return nil, &AuthEntryError{Index: len(entries), Reason: "malformed JSON: " + err.Error()}
		}
		if err := e.validate(len(entries)); err != nil {
			return nil, err
		}
		entries = append(entries, e)
	}
	if tok, err := dec.Token(); err != nil || tok != json.Delim(']') {
		return nil, &AuthEntryError{Index: -1, Reason: "unterminated JSON array"}
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, &AuthEntryError{Index: -1, Reason: "trailing data after the JSON array"}
	}
	return entries, nil
}
