package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/blockrep/blockrep/checkpoint"
	"github.com/blockrep/blockrep/checkpoint/vfs"
	"github.com/blockrep/blockrep/replica"
	"github.com/blockrep/blockrep/transport"
	"github.com/blockrep/blockrep/transport/certs"
	"github.com/blockrep/blockrep/transport/tcp"
)

// host is one machine of the story, in this process: a replica host with a
// checkpoint store on disk, listening on loopback with mutual TLS, and —
// for the two that take turns as primary — a primary host.
type host struct {
	name     string
	addr     string
	storeDir string
	tr       *namedDialer
	listener transport.Listener
	store    *checkpoint.DirStore
	rh       *replica.ReplicaHost
	ph       *replica.PrimaryHost // nil for the extended replica
	served   chan error
	promoted chan promotion // what ReplicaConfig.OnPromoted heard
}

// promotion is one call of ReplicaConfig.OnPromoted: the group promoted by
// a planned failover, and the address the old primary named to reverse to.
type promotion struct{ group, addr string }

// hostSpec says what a host is and which peers may replicate into it.
type hostSpec struct {
	name    string
	primary bool     // runs a primary host too
	allow   []string // identities whose groups it keeps
}

// startHosts issues a certificate per host from a new CA (written to
// root/certs as PEM, for a look with -keep), and starts each host: listener,
// store under root/stores, replica host serving, primary host.
// On error it stops what it started.
func startHosts(ctx context.Context, root string, specs []hostSpec) (hosts []*host, err error) {
	defer func() {
		if err != nil {
			err = errors.Join(err, stopHosts(hosts))
			hosts = nil
		}
	}()
	ca, err := certs.NewCA("blockrep quickstart CA")
	if err != nil {
		return nil, err
	}
	certDir := filepath.Join(root, "certs")
	if err := os.MkdirAll(certDir, 0o700); err != nil {
		return nil, err
	}
	if err := ca.WritePEM(filepath.Join(certDir, "ca.pem"), ""); err != nil {
		return nil, err
	}
	dir := &directory{}
	for _, s := range specs {
		h, err := startHost(ctx, root, s, ca, dir)
		if h != nil {
			hosts = append(hosts, h)
		}
		if err != nil {
			return hosts, fmt.Errorf("start %s: %w", s.name, err)
		}
		dir.add(h.addr, h.name)
	}
	return hosts, nil
}

func startHost(ctx context.Context, root string, s hostSpec, ca *certs.CA, dir *directory) (*host, error) {
	cert, err := ca.IssueCert(s.name)
	if err != nil {
		return nil, err
	}
	certDir := filepath.Join(root, "certs")
	if err := cert.WritePEM(filepath.Join(certDir, s.name+".pem"), filepath.Join(certDir, s.name+"-key.pem")); err != nil {
		return nil, err
	}
	t, err := tcp.New(tcp.Config{Certificates: []tls.Certificate{cert.TLS}, RootCAs: ca.Pool()})
	if err != nil {
		return nil, err
	}
	h := &host{name: s.name, tr: &namedDialer{tls: t, dir: dir}, storeDir: filepath.Join(root, "stores", s.name)}
	var entries []transport.AuthEntry
	for _, peer := range s.allow {
		entries = append(entries, transport.AuthEntry{Peer: peer, Group: "*", Storage: "."})
	}
	auth, err := transport.NewAuthorizer(entries)
	if err != nil {
		return nil, err
	}
	if h.listener, err = h.tr.Listen(ctx, "127.0.0.1:0"); err != nil {
		return nil, err
	}
	h.addr = h.listener.Addr()
	if h.store, err = checkpoint.Open(vfs.OS(), h.storeDir); err != nil {
		return h, err
	}
	if s.primary {
		if h.ph, err = replica.NewPrimaryHost(replica.PrimaryConfig{Transport: h.tr}); err != nil {
			return h, err
		}
	}
	h.promoted = make(chan promotion, 8)
	cfg := replica.ReplicaConfig{
		Listener:   h.listener,
		Store:      h.store,
		Authorizer: auth,
		// Transport dials the extended replica when this host forwards.
		Transport: h.tr,
		// Primary is this machine's primary host: a peer that reverses
		// toward a group it still has a relationship of is refused (split
		// brain).
		Primary: h.ph,
		// A host tool would call Reverse from here; the story does it
		// itself, in order, and only prints what was heard.
		OnPromoted: func(group, addr string) {
			select {
			case h.promoted <- promotion{group, addr}:
			default:
			}
		},
	}
	if h.rh, err = replica.NewReplicaHost(cfg); err != nil {
		return h, err
	}
	h.served = make(chan error, 1)
	go func() { h.served <- h.rh.Serve(ctx) }()
	return h, nil
}

// stopHosts stops the hosts, primaries first (their connections end), then
// the replica hosts, their listeners and stores.
func stopHosts(hosts []*host) error {
	var errs []error
	for _, h := range hosts {
		if h.ph != nil {
			errs = append(errs, ignoreClosed(h.ph.Close()))
		}
	}
	for _, h := range hosts {
		if h.rh != nil {
			errs = append(errs, ignoreClosed(h.rh.Close()))
			if h.served != nil {
				errs = append(errs, <-h.served)
			}
		}
		if h.listener != nil {
			errs = append(errs, h.listener.Close())
		}
		if h.store != nil {
			errs = append(errs, ignoreClosed(h.store.Close()))
		}
	}
	return errors.Join(errs...)
}

func ignoreClosed(err error) error {
	if errors.Is(err, replica.ErrClosed) || errors.Is(err, checkpoint.ErrClosed) {
		return nil
	}
	return err
}
