package main

import (
	"context"
	"encoding/json"
	"errors"
	"io"

	"github.com/blockrep/blockrep/checkpoint"
	"github.com/blockrep/blockrep/checkpoint/vfs"
	"github.com/blockrep/blockrep/replica"
	"github.com/blockrep/blockrep/transport"
)

// runReplica serves the store in spec.Store on a loopback port: it reports
// the port on stdout, then serves until its stdin is closed (the parent's
// way of stopping it).
func runReplica(ctx context.Context, spec childSpec, stdin io.Reader, stdout io.Writer) (err error) {
	stop, err := startProfile(spec.Profile)
	if err != nil {
		return err
	}
	defer stop()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	store, err := checkpoint.Open(vfs.OS(), spec.Store)
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, store.Close()) }()
	auth, err := transport.NewAuthorizer([]transport.AuthEntry{{Peer: primaryName, Group: "*", Storage: "."}})
	if err != nil {
		return err
	}
	tr, err := newTransport(spec.Certs, replicaName, spec.Insecure)
	if err != nil {
		return err
	}
	l, err := tr.Listen(ctx, "127.0.0.1:0")
	if err != nil {
		return err
	}
	defer l.Close()
	rh, err := replica.NewReplicaHost(replica.ReplicaConfig{Listener: l, Store: store, Authorizer: auth})
	if err != nil {
		return err
	}
	served := make(chan error, 1)
	go func() { served <- rh.Serve(ctx) }()
	if err := json.NewEncoder(stdout).Encode(childResult{Addr: l.Addr()}); err != nil {
		cancel()
		<-served
		return err
	}
	eof := make(chan struct{})
	go func() {
		_, _ = io.Copy(io.Discard, stdin)
		close(eof)
	}()
	select {
	case <-eof:
	case <-ctx.Done():
	}
	cancel()
	err = <-served
	return errors.Join(err, rh.Close())
}
