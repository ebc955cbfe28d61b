package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/blockrep/blockrep/checkpoint"
	"github.com/blockrep/blockrep/checkpoint/vfs"
	"github.com/blockrep/blockrep/replica"
	"github.com/blockrep/blockrep/transport"
)

// demotedStore is where a primary's state directory keeps the groups it
// handed over: "blockrep serve --store STATE/store" serves them.
const demotedStore = "store"

// plannedFailover is "blockrep failover --planned": from a state directory
// (the primary of image files), or through the serve of a store whose
// group it replicates back after an earlier failover.
func plannedFailover(env *cmdEnv, f *failoverFlags) error {
	if f.state == "" {
		var res plannedResult
		req := controlRequest{Op: "planned", Group: f.group, To: f.reverseTo}
		if err := storeRequest(env.ctx, f.store, req, &res); err != nil {
			return err
		}
		return printPlanned(env, f.json, res, "")
	}
	gf := &groupFlags{state: f.state, group: f.group, peer: f.peer}
	g, lock, err := gf.openLocked(env, nil)
	if err != nil {
		return err
	}
	defer lock.unlock()
	defer g.close()
	var opts []replica.PlannedFailoverOption
	if f.reverseTo != "" {
		opts = append(opts, replica.WithReverseTo(f.reverseTo))
	}
	// The final cycle sends what the tracker holds: add what other
	// programs wrote to the files since the last cycle.
	scans, err := g.scanVolumes(env.ctx)
	if err != nil {
		return err
	}
	if err := g.mark(scans); err != nil {
		return err
	}
	res, err := g.rel.PlannedFailover(env.ctx, opts...)
	if err != nil {
		g.saveState()
		return fmt.Errorf("group %s: planned failover: %w", f.group, err)
	}
	g.st.LastPoint, g.st.LastTime = res.Point, res.Time
	store, err := demote(env.ctx, g)
	if err != nil {
		return fmt.Errorf("group %s: the replica is promoted at %s, but keeping this host's copy failed (blockrep reverse --state %s --group %s retries): %w",
			f.group, res.Point, f.state, f.group, err)
	}
	out := plannedResult{Group: f.group, Point: res.Point.String(), Blocks: res.Blocks, BytesSent: res.StreamBytes, Store: store}
	return printPlanned(env, f.json, out, f.reverseTo)
}

func printPlanned(env *cmdEnv, asJSON bool, res plannedResult, reverseTo string) error {
	if asJSON {
		return writeJSON(env.stdout, res)
	}
	fmt.Fprintf(env.stdout, "%s: planned failover done at point %s (%d blocks, %s in the final cycle); the replica is the primary now\n",
		res.Group, res.Point, res.Blocks, formatBytes(res.BytesSent))
	fmt.Fprintf(env.stdout, "this host keeps the group as a replica in %s: serve it with blockrep serve --store %s", res.Store, res.Store)
	if reverseTo != "" {
		fmt.Fprintf(env.stdout, " --listen %s", reverseTo)
	}
	fmt.Fprintln(env.stdout)
	return nil
}

// demote stores the group's image files in STATE/store as the replica of
// the new primary (PrimaryHost.Demote), then marks the group handed over.
// The store must not be served meanwhile (its lock is taken).
func demote(ctx context.Context, g *primaryGroup) (string, error) {
	dir, err := filepath.Abs(filepath.Join(g.dir.root, demotedStore))
	if err != nil {
		return "", err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", err
	}
	lock, err := lockDir(dir)
	if err != nil {
		return "", err
	}
	defer lock.unlock()
	store, err := checkpoint.Open(vfs.OS(), dir)
	if err != nil {
		return "", err
	}
	defer store.Close()
	auth, err := transport.NewAuthorizer(nil)
	if err != nil {
		return "", err
	}
	rh, err := replica.NewReplicaHost(replica.ReplicaConfig{Listener: idleListener{}, Store: store, Authorizer: auth})
	if err != nil {
		return "", err
	}
	defer rh.Close()
	if err := g.host.Demote(ctx, g.st.Group, rh); err != nil {
		return "", err
	}
	g.rel = nil
	g.st.State = replica.PreparedForFailover
	g.st.Demoted = dir
	return dir, g.dir.save(g.st)
}
