package transport_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/blockrep/blockrep/transport"
)

func authPeer(name string) transport.Identity {
	return transport.Identity{Name: name, Authenticated: true}
}

func TestAuthorizeMatching(t *testing.T) {
	entries := []transport.AuthEntry{
		{Peer: "primary1.dc1.example", Group: "vm-web", Storage: "exact"},
		{Peer: "*.dc1.example", Group: "vm-*", Storage: "dc1/vms"},
		{Peer: "*.dc1.example", Group: "*", Storage: "dc1/other"},
		{Peer: "backup?.dc2.example", Group: "[a-c]*", Storage: "dc2"},
		{Peer: `odd\*name`, Group: "g", Storage: "escaped"},
	}
	a, err := transport.NewAuthorizer(entries)
	require.NoError(t, err)

	tests := []struct {
		peer, group string
		storage     string // "" = refused
	}{
		{"primary1.dc1.example", "vm-web", "exact"},       // first entry wins over the wider second
		{"primary1.dc1.example", "vm-db", "dc1/vms"},      // falls through to the glob
		{"primary2.dc1.example", "vm-web", "dc1/vms"},     // exact peer does not match, glob does
		{"primary2.dc1.example", "database", "dc1/other"}, // group glob "*"
		{"primary2.dc1.example", "a/b", ""},               // "*" does not cross '/'
		{"a.b.dc1.example", "vm-x", "dc1/vms"},            // '*' spans dots
		{"dc1.example", "vm-x", ""},                       // "*." needs something before the dot
		{"primary1.dc1.example.evil", "vm-web", ""},       // suffix must match to the end
		{"backup1.dc2.example", "alpha", "dc2"},           // '?' and class
		{"backup12.dc2.example", "alpha", ""},             // '?' is one character
		{"backup1.dc2.example", "delta", ""},              // class excludes d
		{"PRIMARY1.DC1.EXAMPLE", "vm-web", ""},            // matching is case-sensitive
		{"odd*name", "g", "escaped"},                      // escaped star is literal
		{"oddXname", "g", ""},                             // ... and matches nothing else
		{"primary1.dc3.example", "vm-web", ""},            // nobody allows dc3
		{"primary1.dc1.example", "", ""},                  // empty group id
		{"", "vm-web", ""},                                // empty peer name
		{"primary1.dc1.example", "vm-web\x00", "dc1/vms"}, // odd group ids only match patterns
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%s/%s", tt.peer, tt.group), func(t *testing.T) {
			got, err := a.Authorize(authPeer(tt.peer), tt.group)
			if tt.storage == "" {
				require.Error(t, err)
				assert.ErrorIs(t, err, transport.ErrUnauthorized)
				assert.NotErrorIs(t, err, transport.ErrUnauthenticated)
				assert.False(t, transport.IsTemporary(err))
				assert.Equal(t, transport.AuthEntry{}, got)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.storage, got.Storage)
		})
	}
}

func TestAuthorizeTrustGroup(t *testing.T) {
	entries := []transport.AuthEntry{
		{Peer: "host-a.example", Group: "vm-a*", Storage: "cluster/a", TrustGroup: "cluster"},
		{Peer: "host-b.example", Group: "vm-b*", Storage: "cluster/b", TrustGroup: "cluster"},
		{Peer: "host-c.example", Group: "vm-c*", Storage: "c", TrustGroup: "other"},
		{Peer: "host-d.example", Group: "vm-d*", Storage: "d"}, // no trust group
		{Peer: "host-b.example", Group: "vm-shared", Storage: "b-own"},
	}
	a, err := transport.NewAuthorizer(entries)
	require.NoError(t, err)

	tests := []struct {
		name, peer, group string
		want              int // index of the entry expected, -1 = refused
	}{
		{"own group", "host-a.example", "vm-a1", 0},
		{"partner's group keeps partner's storage", "host-b.example", "vm-a1", 0},
		{"other direction", "host-a.example", "vm-b7", 1},
		{"another trust group is not shared", "host-c.example", "vm-a1", -1},
		{"into another trust group refused", "host-a.example", "vm-c1", -1},
		{"entry without trust group is not shared", "host-a.example", "vm-d1", -1},
		{"nor does it share", "host-d.example", "vm-a1", -1},
		{"direct entry beats trust group", "host-b.example", "vm-shared", 4},
		{"trust group needs a matching group", "host-a.example", "vm-shared", -1},
		{"stranger refused", "host-z.example", "vm-a1", -1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := a.Authorize(authPeer(tt.peer), tt.group)
			if tt.want < 0 {
				assert.ErrorIs(t, err, transport.ErrUnauthorized)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, entries[tt.want], got)
		})
	}
}

func TestAuthorizeUnauthenticated(t *testing.T) {
	entries := []transport.AuthEntry{{Peer: "*", Group: "*", Storage: "all"}}
	claimed := transport.Identity{Name: "primary.example", Authenticated: false}

	strict, err := transport.NewAuthorizer(entries, transport.AllowAnyAuthenticated("any"))
	require.NoError(t, err)
	_, err = strict.Authorize(claimed, "g")
	assert.ErrorIs(t, err, transport.ErrUnauthorized)
	assert.ErrorIs(t, err, transport.ErrUnauthenticated)
	assert.False(t, transport.IsTemporary(err))

	insecure, err := transport.NewAuthorizer(entries, transport.AllowUnauthenticated())
	require.NoError(t, err)
	got, err := insecure.Authorize(claimed, "g")
	require.NoError(t, err)
	assert.Equal(t, "all", got.Storage)

	// The insecure mode still applies the entries.
	narrow, err := transport.NewAuthorizer([]transport.AuthEntry{{Peer: "x", Group: "*", Storage: "x"}}, transport.AllowUnauthenticated())
	require.NoError(t, err)
	_, err = narrow.Authorize(claimed, "g")
	assert.ErrorIs(t, err, transport.ErrUnauthorized)
	assert.NotErrorIs(t, err, transport.ErrUnauthenticated)
}

func TestAuthorizeAllowAny(t *testing.T) {
	entries := []transport.AuthEntry{{Peer: "special.example", Group: "*", Storage: "special"}}
	a, err := transport.NewAuthorizer(entries, transport.AllowAnyAuthenticated("replicas"))
	require.NoError(t, err)

	got, err := a.Authorize(authPeer("special.example"), "g1")
	require.NoError(t, err)
	assert.Equal(t, entries[0], got, "entries come before the allow-any default")

	got, err = a.Authorize(authPeer("anyone.example"), "g1")
	require.NoError(t, err)
	assert.Equal(t, transport.AuthEntry{Peer: "*", Group: "*", Storage: "replicas"}, got)

	_, err = a.Authorize(authPeer("anyone.example"), "")
	assert.ErrorIs(t, err, transport.ErrUnauthorized)

	// With no entries at all and no allow-any, nothing is allowed.
	none, err := transport.NewAuthorizer(nil)
	require.NoError(t, err)
	_, err = none.Authorize(authPeer("anyone.example"), "g1")
	assert.ErrorIs(t, err, transport.ErrUnauthorized)

	for _, bad := range []string{"", "/abs", "../up", "a/../../b", "a//b", `a\b`} {
		_, err := transport.NewAuthorizer(nil, transport.AllowAnyAuthenticated(bad))
		assert.ErrorIs(t, err, transport.ErrInvalidAuthEntry, "storage %q", bad)
	}
}

func TestAuthEntryValidate(t *testing.T) {
	ok := transport.AuthEntry{Peer: "*.example", Group: "*", Storage: "replicas/dc1"}
	long := strings.Repeat("a", transport.MaxAuthFieldLen+1)
	tests := []struct {
		name  string
		edit  func(e *transport.AuthEntry)
		field string // "" = valid
	}{
		{"valid", func(e *transport.AuthEntry) {}, ""},
		{"root storage", func(e *transport.AuthEntry) { e.Storage = "." }, ""},
		{"dots inside a name are fine", func(e *transport.AuthEntry) { e.Storage = "a..b/c.d" }, ""},
		{"unicode", func(e *transport.AuthEntry) { e.Peer = "hôte.example"; e.Storage = "données" }, ""},
		{"empty peer", func(e *transport.AuthEntry) { e.Peer = "" }, "peer"},
		{"bad peer class", func(e *transport.AuthEntry) { e.Peer = "[a-" }, "peer"},
		{"bad peer escape", func(e *transport.AuthEntry) { e.Peer = `abc\` }, "peer"},
		{"bad pattern after star", func(e *transport.AuthEntry) { e.Peer = "*x[" }, "peer"},
		{"empty group", func(e *transport.AuthEntry) { e.Group = "" }, "group"},
		{"bad group", func(e *transport.AuthEntry) { e.Group = "vm-[" }, "group"},
		{"empty storage", func(e *transport.AuthEntry) { e.Storage = "" }, "storage"},
		{"absolute", func(e *transport.AuthEntry) { e.Storage = "/var/lib/replicas" }, "storage"},
		{"dotdot", func(e *transport.AuthEntry) { e.Storage = ".." }, "storage"},
		{"leading dotdot", func(e *transport.AuthEntry) { e.Storage = "../etc" }, "storage"},
		{"inner dotdot", func(e *transport.AuthEntry) { e.Storage = "a/../../etc" }, "storage"},
		{"unclean dotdot", func(e *transport.AuthEntry) { e.Storage = "a/../b" }, "storage"},
		{"trailing slash", func(e *transport.AuthEntry) { e.Storage = "a/" }, "storage"},
		{"double slash", func(e *transport.AuthEntry) { e.Storage = "a//b" }, "storage"},
		{"dot element", func(e *transport.AuthEntry) { e.Storage = "./a" }, "storage"},
		{"backslash", func(e *transport.AuthEntry) { e.Storage = `..\etc` }, "storage"},
		{"control", func(e *transport.AuthEntry) { e.Storage = "a\nb" }, "storage"},
		{"nul", func(e *transport.AuthEntry) { e.Group = "a\x00" }, "group"},
		{"invalid utf8", func(e *transport.AuthEntry) { e.Peer = "\xff" }, "peer"},
		{"long peer", func(e *transport.AuthEntry) { e.Peer = long }, "peer"},
		{"long trust group", func(e *transport.AuthEntry) { e.TrustGroup = long }, "trustGroup"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := ok
			tt.edit(&e)
			err := e.Validate()
			if tt.field == "" {
				assert.NoError(t, err)
				return
			}
			require.ErrorIs(t, err, transport.ErrInvalidAuthEntry)
			var ae *transport.AuthEntryError
			require.ErrorAs(t, err, &ae)
			assert.Equal(t, tt.field, ae.Field)
			assert.Equal(t, -1, ae.Index)

			// The constructor refuses the same entry, naming its index.
			_, err = transport.NewAuthorizer([]transport.AuthEntry{ok, e})
			require.ErrorAs(t, err, &ae)
			assert.Equal(t, 1, ae.Index)
			assert.Equal(t, tt.field, ae.Field)
		})
	}
}

func TestAuthorizerSetAndEntries(t *testing.T) {
	first := []transport.AuthEntry{{Peer: "a", Group: "*", Storage: "a"}}
	a, err := transport.NewAuthorizer(first)
	require.NoError(t, err)

	// Entries is a copy; the caller's slice is copied too.
	got := a.Entries()
	got[0].Storage = "changed"
	first[0].Storage = "changed too"
	assert.Equal(t, []transport.AuthEntry{{Peer: "a", Group: "*", Storage: "a"}}, a.Entries())

	// An invalid list changes nothing.
	err = a.Set([]transport.AuthEntry{{Peer: "b", Group: "*", Storage: "b"}, {Peer: "[", Group: "*", Storage: "c"}})
	require.ErrorIs(t, err, transport.ErrInvalidAuthEntry)
	_, err = a.Authorize(authPeer("a"), "g")
	require.NoError(t, err)

	second := []transport.AuthEntry{{Peer: "b", Group: "*", Storage: "b"}}
	require.NoError(t, a.Set(second))
	assert.Equal(t, second, a.Entries())
	_, err = a.Authorize(authPeer("a"), "g")
	assert.ErrorIs(t, err, transport.ErrUnauthorized)
	e, err := a.Authorize(authPeer("b"), "g")
	require.NoError(t, err)
	assert.Equal(t, "b", e.Storage)

	tooMany := make([]transport.AuthEntry, transport.MaxAuthEntries+1)
	for i := range tooMany {
		tooMany[i] = second[0]
	}
	assert.ErrorIs(t, a.Set(tooMany), transport.ErrInvalidAuthEntry)
	assert.Equal(t, second, a.Entries())
}

// TestAuthorizerConcurrentSet runs Authorize against Set under the race
// detector: every answer comes from one whole list, old or new.
func TestAuthorizerConcurrentSet(t *testing.T) {
	listA := []transport.AuthEntry{{Peer: "p", Group: "*", Storage: "a1"}, {Peer: "*", Group: "*", Storage: "a2"}}
	listB := []transport.AuthEntry{{Peer: "p", Group: "*", Storage: "b1"}, {Peer: "*", Group: "*", Storage: "b2"}}
	a, err := transport.NewAuthorizer(listA)
	require.NoError(t, err)

	var wg sync.WaitGroup
	errs := make(chan error, 4)
	for w := range 4 {
		wg.Go(func() {
			for i := range 500 {
				if w == 0 {
					list := listA
					if i%2 == 1 {
						list = listB
					}
					if err := a.Set(list); err != nil {
						errs <- err
						return
					}
					continue
				}
				e, err := a.Authorize(authPeer("p"), "g")
				if err != nil {
					errs <- err
					return
				}
				if e.Storage != "a1" && e.Storage != "b1" {
					errs <- fmt.Errorf("entry %+v from no list", e)
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

func TestParseAuthEntries(t *testing.T) {
	entries := []transport.AuthEntry{
		{Peer: "*.dc1.example", Group: "vm-*", Storage: "dc1", TrustGroup: "cluster"},
		{Peer: "solo.example", Group: "*", Storage: "solo"},
	}
	data, err := json.Marshal(entries)
	require.NoError(t, err)
	assert.JSONEq(t, `[{"peer":"*.dc1.example","group":"vm-*","storage":"dc1","trustGroup":"cluster"},
		{"peer":"solo.example","group":"*","storage":"solo"}]`, string(data))

	got, err := transport.ParseAuthEntries(data)
	require.NoError(t, err)
	assert.Equal(t, entries, got)

	got, err = transport.ParseAuthEntries([]byte(" [ ] \n"))
	require.NoError(t, err)
	assert.Empty(t, got)

	bad := map[string]string{
		"not an array":   `{"peer":"a"}`,
		"empty":          ``,
		"unknown field":  `[{"peer":"a","group":"*","storage":"s","extra":1}]`,
		"traversal":      `[{"peer":"a","group":"*","storage":"../../etc"}]`,
		"bad pattern":    `[{"peer":"[","group":"*","storage":"s"}]`,
		"missing fields": `[{"peer":"a"}]`,
		"trailing":       `[] []`,
		"unterminated":   `[{"peer":"a","group":"*","storage":"s"}`,
		"wrong type":     `[{"peer":1,"group":"*","storage":"s"}]`,
	}
	for name, doc := range bad {
		_, err := transport.ParseAuthEntries([]byte(doc))
		assert.ErrorIs(t, err, transport.ErrInvalidAuthEntry, name)
	}

	huge := make([]byte, transport.MaxAuthListSize+1)
	_, err = transport.ParseAuthEntries(huge)
	assert.ErrorIs(t, err, transport.ErrInvalidAuthEntry)
}

// FuzzParseAuthEntries checks that whatever ParseAuthEntries accepts is a
// list of valid entries that survives a JSON round trip unchanged.
func FuzzParseAuthEntries(f *testing.F) {
	f.Add([]byte(`[{"peer":"*.dc1.example","group":"vm-*","storage":"dc1","trustGroup":"t"}]`))
	f.Add([]byte(`[]`))
	f.Add([]byte(`[{"peer":"[","group":"*","storage":"../x"}]`))
	f.Fuzz(func(t *testing.T, data []byte) {
		entries, err := transport.ParseAuthEntries(data)
		if err != nil {
			if !errors.Is(err, transport.ErrInvalidAuthEntry) {
				t.Fatalf("error %v does not wrap ErrInvalidAuthEntry", err)
			}
			return
		}
		for i, e := range entries {
			if err := e.Validate(); err != nil {
				t.Fatalf("accepted entry %d invalid: %v", i, err)
			}
		}
		again, err := json.Marshal(entries)
		if err != nil {
			t.Fatal(err)
		}
		back, err := transport.ParseAuthEntries(again)
		if err != nil {
			t.Fatalf("round trip refused: %v", err)
		}
		if len(back) != len(entries) {
			t.Fatalf("round trip: %d entries, want %d", len(back), len(entries))
		}
		for i := range back {
			if back[i] != entries[i] {
				t.Fatalf("round trip entry %d: %+v, want %+v", i, back[i], entries[i])
			}
		}
		if _, err := transport.NewAuthorizer(entries); err != nil {
			t.Fatalf("NewAuthorizer refused parsed entries: %v", err)
		}
	})
}

// ExampleAuthorizer shows a replica's authorization list: the hosts of
// one site replicate into their own location, two cluster nodes share a
// trust group so that a VM migrated between them keeps replicating, and
// an unknown peer is refused.
func ExampleAuthorizer() {
	a, err := transport.NewAuthorizer([]transport.AuthEntry{
		{Peer: "*.dc1.example", Group: "*", Storage: "dc1"},
		{Peer: "node1.cluster.example", Group: "vm-a*", Storage: "cluster/a", TrustGroup: "cluster"},
		{Peer: "node2.cluster.example", Group: "vm-b*", Storage: "cluster/b", TrustGroup: "cluster"},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, req := range []struct{ peer, group string }{
		{"web.dc1.example", "vm-web"},
		{"node1.cluster.example", "vm-a1"},
		{"node2.cluster.example", "vm-a1"}, // vm-a1 migrated to node2
		{"intruder.example", "vm-a1"},
	} {
		e, err := a.Authorize(transport.Identity{Name: req.peer, Authenticated: true}, req.group)
		if err != nil {
			fmt.Println(req.peer, req.group, "refused:", errors.Is(err, transport.ErrUnauthorized))
			continue
		}
		fmt.Println(req.peer, req.group, "->", e.Storage)
	}
	// Output:
	// web.dc1.example vm-web -> dc1
	// node1.cluster.example vm-a1 -> cluster/a
	// node2.cluster.example vm-a1 -> cluster/a
	// intruder.example vm-a1 refused: true
}
