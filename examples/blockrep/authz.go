package main

import (
	"strings"

	"github.com/blockrep/blockrep/transport"
)

// parseAllow turns the --allow values into authorization entries: IDENTITY
// allows that peer every group, IDENTITY=PATTERN the groups matching the
// pattern (path.Match syntax). Every group lands at the store's root.
func parseAllow(values []string) ([]transport.AuthEntry, error) {
	var out []transport.AuthEntry
	for _, v := range values {
		peer, group, ok := strings.Cut(v, "=")
		if !ok {
			group = "*"
		}
		e := transport.AuthEntry{Peer: peer, Group: group, Storage: "."}
		if err := e.Validate(); err != nil {
			return nil, usagef("--allow %q: %v", v, err)
		}
		out = append(out, e)
	}
	return out, nil
}

// newAuthorizer builds the replica's authorizer: the --allow entries, or —
// with none — any peer whose certificate the CA issued; over --insecure,
// peers' claimed names are taken as true (with no --allow: any peer).
func newAuthorizer(allow []string, insecure bool) (*transport.Authorizer, error) {
	entries, err := parseAllow(allow)
	if err != nil {
		return nil, err
	}
	var opts []transport.AuthorizerOption
	if len(entries) == 0 {
		opts = append(opts, transport.AllowAnyAuthenticated("."))
	}
	if insecure {
		opts = append(opts, transport.AllowUnauthenticated())
	}
	return transport.NewAuthorizer(entries, opts...)
}
