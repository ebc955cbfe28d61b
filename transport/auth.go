package transport

import (
	"fmt"
	"path"
	"sync"
)

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
