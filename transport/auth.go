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
	"sync"
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

// AuthorizerOption configures an Authorizer.
type AuthorizerOption func(*authOptions) error

type authOptions struct {
	allowAny        bool
	anyStorage      string
	allowUnauthentd bool
}

// AllowAnyAuthenticated makes the Authorizer accept any authenticated peer
// for any group that no entry covers, storing such groups in storage (a
// location validated like AuthEntry.Storage). Entries are still consulted
// first, so they can give some peers or groups their own location. Off by
// default: without it only the entries authorize.
func AllowAnyAuthenticated(storage string) AuthorizerOption {
	return func(o *authOptions) error {
		if why := validateStorage(storage); why != "" {
			return &AuthEntryError{Index: -1, Field: "storage", Reason: "AllowAnyAuthenticated: " + why}
		}
		o.allowAny = true
		o.anyStorage = storage
		return nil
	}
}

// AllowUnauthenticated makes the Authorizer consider peers whose identity
// was not proven (Identity.Authenticated false, as over insecure plain TCP)
// as if their claimed name were true. It is for tests and trusted links
// only: anyone can claim any name. Off by default: an unauthenticated peer
// is refused whatever the entries say.
func AllowUnauthenticated() AuthorizerOption {
	return func(o *authOptions) error {
		o.allowUnauthentd = true
		return nil
	}
}

// Authorizer decides which peers may replicate which groups into which
// storage location, from a list of AuthEntry. It is safe for concurrent
// use; Set replaces the list while Authorize calls go on.
type Authorizer struct {
	opts authOptions

	mu      sync.RWMutex
	entries []AuthEntry
}

// NewAuthorizer returns an Authorizer over a copy of entries, after
// validating every entry and option. An error wraps ErrInvalidAuthEntry
// (an *AuthEntryError says which entry and field).
func NewAuthorizer(entries []AuthEntry, opts ...AuthorizerOption) (*Authorizer, error) {
	a := &Authorizer{}
	for _, opt := range opts {
		if err := opt(&a.opts); err != nil {
			return nil, err
		}
	}
	if err := a.Set(entries); err != nil {
		return nil, err
	}
	return a, nil
}

// Set validates entries and, when all are valid, replaces the list with a
// copy of them; otherwise the list is unchanged and the error wraps
// ErrInvalidAuthEntry. Authorize calls that started before Set returns see
// either the old or the new list, never a mix.
func (a *Authorizer) Set(entries []AuthEntry) error {
	if len(entries) > MaxAuthEntries {
		return &AuthEntryError{Index: -1, Reason: fmt.Sprintf("%d entries, at most %d allowed", len(entries), MaxAuthEntries)}
	}
	for i, e := range entries {
		if err := e.validate(i); err != nil {
			return err
		}
	}
	list := append([]AuthEntry(nil), entries...)
	a.mu.Lock()
	a.entries = list
	a.mu.Unlock()
	return nil
}

// Entries returns a copy of the current list, in order.
func (a *Authorizer) Entries() []AuthEntry {
	a.mu.RLock()
	defer a.mu.RUnlock()
	return append([]AuthEntry(nil), a.entries...)
}

// Authorize decides whether peer may replicate group, and returns the
// entry that allows it (whose Storage says where the group goes).
//
// The peer must be authenticated (unless AllowUnauthenticated was chosen)
// and have a non-empty name. Then, in this order, the first rule that
// matches wins:
//
//  1. Direct: the first entry, in list order, whose Peer matches the
//     peer's name and whose Group matches group.
//  2. Trust group: the first entry E, in list order, with a non-empty
//     TrustGroup T whose Group matches group, when the peer's name matches
//     the Peer of any entry (E or another) whose TrustGroup is also T. The
//     returned entry is E, so the group keeps E's storage location: a group
//     that moves from one primary to another of the same trust group (a VM
//     migrated between hosts of a cluster) lands where it already was.
//  3. Allow-any: when AllowAnyAuthenticated was chosen, an entry with Peer
//     and Group "*" and the option's storage location.
//
// An empty group id is never authorized. When nothing matches, the error wraps ErrUnauthorized; for an
// unauthenticated peer it wraps both ErrUnauthorized and
// ErrUnauthenticated.
func (a *Authorizer) Authorize(peer Identity, group string) (AuthEntry, error) {
	if !peer.Authenticated && !a.opts.allowUnauthentd {
		return AuthEntry{}, fmt.Errorf("%w: %w: peer %q claims a name it did not prove", ErrUnauthorized, ErrUnauthenticated, peer.Name)
	}
	if peer.Name == "" {
		return AuthEntry{}, fmt.Errorf("%w: peer has no name", ErrUnauthorized)
	}
	if group == "" {
		return AuthEntry{}, fmt.Errorf("%w: empty group id", ErrUnauthorized)
	}
	a.mu.RLock()
	entries := a.entries
	a.mu.RUnlock()

	// The list is never modified in place (Set swaps in a new slice), so
	// reading it after unlocking is safe and sees one consistent version.
	for _, e := range entries {
		if match(e.Peer, peer.Name) && match(e.Group, group) {
			return e, nil
		}
	}
	for _, e := range entries {
		if e.TrustGroup == "" || !match(e.Group, group) {
			continue
		}
		for _, f := range entries {
			if f.TrustGroup == e.TrustGroup && match(f.Peer, peer.Name) {
				return e, nil
			}
		}
	}
	if a.opts.allowAny {
		return AuthEntry{Peer: "*", Group: "*", Storage: a.opts.anyStorage}, nil
	}
	return AuthEntry{}, fmt.Errorf("%w: no entry allows peer %q to replicate group %q", ErrUnauthorized, peer.Name, group)
}

// match reports whether name matches the validated pattern.
func match(pattern, name string) bool {
	ok, err := path.Match(pattern, name)
	return ok && err == nil
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
