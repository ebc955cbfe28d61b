package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"

	"github.com/blockrep/blockrep/checkpoint"
	"github.com/blockrep/blockrep/checkpoint/vfs"
	"github.com/blockrep/blockrep/replica"
	"github.com/blockrep/blockrep/transport"
)

// storeRequest carries out req on the store at dir: through the control
// socket of the serve that holds it, or — when none runs — in this process
// under the store's lock. out receives the JSON result.
func storeRequest(ctx context.Context, dir string, req controlRequest, out any) error {
	if req.Out != "" {
		a, err := filepath.Abs(req.Out)
		if err != nil {
			return err
		}
		req.Out = a
	}
	var d net.Dialer
	c, err := d.DialContext(ctx, "unix", socketPath(dir))
	if err == nil {
		return remoteRequest(ctx, c, req, out)
	}
	return localRequest(ctx, dir, req, out)
}

func remoteRequest(ctx context.Context, c net.Conn, req controlRequest, out any) error {
	defer c.Close()
	stop := context.AfterFunc(ctx, func() { c.Close() })
	defer stop()
	if err := json.NewEncoder(c).Encode(req); err != nil {
		return fmt.Errorf("control socket: %w", err)
	}
	var resp controlResponse
	if err := json.NewDecoder(io.LimitReader(c, maxControlBytes)).Decode(&resp); err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return fmt.Errorf("control socket: no answer from serve: %w", err)
	}
	if resp.Error != "" {
		return errors.New(resp.Error)
	}
	return json.Unmarshal(resp.Result, out)
}

// localRequest opens the store itself. It takes the store's lock first:
// opening a group recovers it (rolls back an interrupted apply), which must
// never happen under a running serve.
func localRequest(ctx context.Context, dir string, req controlRequest, out any) error {
	if _, err := os.Stat(dir); err != nil {
		return err
	}
	lock, err := lockDir(dir)
	if err != nil {
		return fmt.Errorf("%w (a blockrep serve may be starting or stopping; retry)", err)
	}
	defer lock.unlock()
	store, err := checkpoint.Open(vfs.OS(), dir)
	if err != nil {
		return err
	}
	defer store.Close()
	auth, err := transport.NewAuthorizer(nil)
	if err != nil {
		return err
	}
	rh, err := replica.NewReplicaHost(replica.ReplicaConfig{Listener: idleListener{}, Store: store, Authorizer: auth})
	if err != nil {
		return err
	}
	defer rh.Close()
	res, err := newStoreHost(dir, store, rh, false).do(ctx, req)
	if err != nil {
		return err
	}
	b, err := json.Marshal(res)
	if err != nil {
		return err
	}
	return json.Unmarshal(b, out)
}

// idleListener is the listener of a ReplicaHost that never serves: the
// local commands use the host only to read its groups.
type idleListener struct{}

func (idleListener) Accept(ctx context.Context) (transport.Conn, error) {
	<-ctx.Done()
	return nil, ctx.Err()
}
func (idleListener) Addr() string { return "none" }
func (idleListener) Close() error { return nil }
