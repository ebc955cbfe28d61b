package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/blockrep/blockrep/checkpoint"
	"github.com/blockrep/blockrep/checkpoint/vfs"
	"github.com/blockrep/blockrep/replica"
	"golang.org/x/sync/errgroup"
)

type serveFlags struct {
	store, listen string
	allow         listFlag
	verbose       bool
	peer          peerFlags
}

func parseServe(env *cmdEnv, args []string) (*serveFlags, error) {
	f := &serveFlags{}
	fs := newFlagSet(env, "serve")
	fs.StringVar(&f.store, "store", "", "the store directory (created if missing)")
	fs.StringVar(&f.listen, "listen", "", "the address to listen on, host:port (port 0 picks one; the address is printed)")
	fs.Var(&f.allow, "allow", "authorize primary IDENTITY (its certificate's name) for every group, or IDENTITY=GROUP-PATTERN for matching groups; repeat for several (none: any peer the CA vouches for)")
	fs.BoolVar(&f.verbose, "v", false, "log the host's activity on stderr")
	f.peer.register(fs)
	if err := parseFlags(fs, args); err != nil {
		return nil, err
	}
	if err := requireFlag("store", f.store); err != nil {
		return nil, err
	}
	if err := requireFlag("listen", f.listen); err != nil {
		return nil, err
	}
	if _, err := parseAllow(f.allow); err != nil {
		return nil, err
	}
	return f, f.peer.validate()
}

// runServe serves the store until SIGINT or SIGTERM. Everything it commits
// is committed by the store (fsync and atomic rename), so a SIGKILL at any
// moment loses no committed point: the next open of a group rolls back an
// apply that did not commit.
func runServe(env *cmdEnv, args []string) error {
	f, err := parseServe(env, args)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(f.store, 0o700); err != nil {
		return err
	}
	lock, err := lockDir(f.store)
	if err != nil {
		return err
	}
	defer lock.unlock()
	tr, err := f.peer.transport(env.stderr)
	if err != nil {
		return err
	}
	auth, err := newAuthorizer(f.allow, f.peer.insecure)
	if err != nil {
		return err
	}
	var log *slog.Logger
	if f.verbose {
		log = slog.New(slog.NewTextHandler(env.stderr, nil))
	}
	store, err := checkpoint.Open(vfs.OS(), f.store, checkpoint.WithLogger(log))
	if err != nil {
		return err
	}
	defer store.Close()
	l, err := tr.Listen(env.ctx, f.listen)
	if err != nil {
		return err
	}
	defer l.Close()
	// ph is the primary host of the groups this store replicates back
	// after a failover (ReplicaHost.Reverse). A failed cycle is retried
	// sooner than a standalone primary would: the old primary's serve is
	// often started only after the promotion.
	ph, err := replica.NewPrimaryHost(replica.PrimaryConfig{Transport: tr, Logger: log,
		Backoff: []time.Duration{5 * time.Second, 15 * time.Second, 30 * time.Second}, RetryInterval: time.Minute})
	if err != nil {
		return err
	}
	defer ph.Close()
	promoted := make(chan [2]string, 16)
	rh, err := replica.NewReplicaHost(replica.ReplicaConfig{Listener: l, Store: store, Authorizer: auth, Logger: log,
		Transport: tr, Primary: ph,
		OnPromoted: func(group, reverseTo string) {
			if reverseTo != "" {
				select {
				case promoted <- [2]string{group, reverseTo}:
				default:
					fmt.Fprintf(env.stderr, "blockrep serve: %s promoted; too many promotions at once, run blockrep reverse --store %s --group %s --to %s\n", group, f.store, group, reverseTo)
				}
			}
		}})
	if err != nil {
		return err
	}
	defer rh.Close()
	host := newStoreHost(f.store, store, rh, true)
	host.ph = ph
	ctl, err := listenControl(socketPath(f.store), host)
	if err != nil {
		return fmt.Errorf("control socket: %w", err)
	}
	defer ctl.close()
	if err := host.startExtends(env.ctx); err != nil {
		return err
	}
	if err := host.startReverses(env.ctx); err != nil {
		return err
	}

	fmt.Fprintf(env.stdout, "serving %s on %s\n", f.store, l.Addr())
	if fl, ok := env.stdout.(interface{ Sync() error }); ok {
		fl.Sync()
	}
	ctx, cancel := context.WithCancel(env.ctx)
	defer cancel()
	eg, ctx := errgroup.WithContext(ctx)
	eg.Go(func() error { return rh.Serve(ctx) })
	eg.Go(func() error { return ctl.serve(ctx) })
	eg.Go(func() error { return ph.Run(ctx) })
	eg.Go(func() error {
		host.resyncReverses(ctx, func(group string, err error) {
			fmt.Fprintf(env.stderr, "blockrep serve: resynchronizing reversed group %s (retried each minute): %v\n", group, err)
		})
		return nil
	})
	eg.Go(func() error {
		// A planned failover promoted a group here: replicate it back to
		// the old primary's serve.
		for {
			select {
			case <-ctx.Done():
				return nil
			case p := <-promoted:
				if _, err := host.reverse(ctx, p[0], p[1], 0); err != nil && ctx.Err() == nil {
					fmt.Fprintf(env.stderr, "blockrep serve: %s promoted, reverse replication to %s: %v\n", p[0], p[1], err)
				}
			}
		}
	})
	err = eg.Wait()
	if errors.Is(err, context.Canceled) {
		err = nil
	}
	if env.ctx.Err() != nil && err == nil {
		fmt.Fprintln(env.stdout, "stopped")
	}
	return err
}
