package tcp_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/blockrep/blockrep/transport"
	"github.com/blockrep/blockrep/transport/tcp"
	"github.com/blockrep/blockrep/transport/transporttest"
)

// authzServer is the pattern the replica package follows: take the peer's
// identity from the connection (never from what the peer says), read the
// group it asks for, consult the Authorizer, and on a refusal answer with
// one refusal frame and hang up, reading nothing more from that peer.
type authzServer struct {
	authz *transport.Authorizer

	mu       sync.Mutex
	refused  []error           // Authorize's errors, one per refused peer
	received map[string]string // storage location → data an authorized peer sent
}

func (s *authzServer) serve(ctx context.Context, c transport.Conn) error {
	defer c.Close()
	req, err := c.Recv(ctx, nil)
	if err != nil {
		return err
	}
	group, ok := strings.CutPrefix(string(req), "replicate ")
	if !ok {
		return fmt.Errorf("unexpected request %q", req)
	}
	entry, err := s.authz.Authorize(c.Peer(), group)
	if err != nil {
		s.mu.Lock()
		s.refused = append(s.refused, err)
		s.mu.Unlock()
		return c.Send(ctx, []byte("refused"))
	}
	if err := c.Send(ctx, []byte("ok")); err != nil {
		return err
	}
	data, err := io.ReadAll(transport.NewReader(ctx, c))
	if err != nil {
		return err
	}
	s.mu.Lock()
	s.received[entry.Storage] = string(data)
	s.mu.Unlock()
	return c.Send(ctx, []byte("applied"))
}

// replicate dials as client, asks to replicate group and, when allowed,
// sends data. It returns every frame the server sent and the error that
// ended the exchange (io.EOF for a clean hang-up).
func replicate(ctx context.Context, client *tcp.Transport, addr, group, data string) (frames []string, err error) {
	c, err := client.DialName(ctx, addr, "replica.example")
	if err != nil {
		return nil, err
	}
	defer c.Close()
	if err := c.Send(ctx, []byte("replicate "+group)); err != nil {
		return nil, err
	}
	for {
		b, err := c.Recv(ctx, nil)
		if err != nil {
			return frames, err
		}
		frames = append(frames, string(b))
		if string(b) == "ok" {
			w := transport.NewWriter(ctx, c, 0)
			if _, err := io.WriteString(w, data); err != nil {
				return frames, err
			}
			if err := w.Close(); err != nil {
				return frames, err
			}
		}
	}
}

// TestUnauthorizedPeerRefused: a peer with a valid certificate that no
// authorization entry names gets one refusal frame and the end of the
// connection, and nothing it could send reaches the store; a listed peer
// replicates into its entry's location. The identity used is the one the
// certificate proved, whatever name the peer would claim.
func TestUnauthorizedPeerRefused(t *testing.T) {
	p := newPKI(t)
	stranger, err := p.ca.IssueCert("stranger.example") // same CA: authenticated, not authorized
	require.NoError(t, err)
	authz, err := transport.NewAuthorizer([]transport.AuthEntry{
		{Peer: "primary.example", Group: "vm-*", Storage: "site-a"},
	})
	require.NoError(t, err)
	srv := &authzServer{authz: authz, received: map[string]string{}}

	ctx := t.Context()
	l := listen(t, p.config(p.replica))
	serveErr := make(chan error, 1)
	go func() {
		var first error
		for range 3 {
			c, err := l.Accept(ctx)
			if err != nil {
				serveErr <- err
				return
			}
			if err := srv.serve(ctx, c); err != nil && first == nil {
				first = err
			}
		}
		serveErr <- first
	}()

	tests := []struct {
		name, group string
		client      tcp.Config
		wantFrames  []string
	}{
		{"listed peer, listed group", "vm-1", p.config(p.primary), []string{"ok", "applied"}},
		{"listed peer, other group", "db-1", p.config(p.primary), []string{"refused"}},
		{"peer not on the list", "vm-1", p.config(stranger), []string{"refused"}},
	}
	for _, tc := range tests {
		frames, err := replicate(ctx, newTransport(t, tc.client), l.Addr(), tc.group, "blocks of "+tc.name)
		require.ErrorIs(t, err, io.EOF, "%s: the server hangs up cleanly", tc.name)
		assert.Equal(t, tc.wantFrames, frames, tc.name)
	}
	require.NoError(t, <-serveErr)

	assert.Equal(t, map[string]string{"site-a": "blocks of listed peer, listed group"}, srv.received,
		"only the authorized peer's data reached the store")
	require.Len(t, srv.refused, 2)
	for _, err := range srv.refused {
		assert.ErrorIs(t, err, transport.ErrUnauthorized)
		assert.False(t, transport.IsTemporary(err), "a refusal is not retried")
	}
	assert.Contains(t, srv.refused[1].Error(), `"stranger.example"`, "the identity comes from the certificate")
}

// TestInsecurePeerNotAuthorized: over an insecure link the peer's name is
// only a claim, so an Authorizer refuses it even when the claimed name is
// listed, unless AllowUnauthenticated was chosen.
func TestInsecurePeerNotAuthorized(t *testing.T) {
	entries := []transport.AuthEntry{{Peer: "primary", Group: "*", Storage: "s"}}
	strict, err := transport.NewAuthorizer(entries)
	require.NoError(t, err)
	lax, err := transport.NewAuthorizer(entries, transport.AllowUnauthenticated())
	require.NoError(t, err)

	l := listen(t, tcp.Config{Insecure: true, Name: "replica"})
	_, accepted := transporttest.Dial(t, newTransport(t, tcp.Config{Insecure: true, Name: "primary"}), l)
	peer := accepted.Peer()
	require.Equal(t, transport.Identity{Name: "primary"}, peer, "a claimed, unproven name")

	_, err = strict.Authorize(peer, "vm-1")
	require.ErrorIs(t, err, transport.ErrUnauthorized)
	assert.True(t, errors.Is(err, transport.ErrUnauthenticated))
	e, err := lax.Authorize(peer, "vm-1")
	require.NoError(t, err)
	assert.Equal(t, "s", e.Storage)
}
