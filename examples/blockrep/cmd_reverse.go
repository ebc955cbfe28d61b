package main

import (
	"fmt"
	"time"

	"github.com/blockrep/blockrep/replica"
)

// runReverse is "blockrep reverse", the two halves of reverse replication
// after an unplanned failover:
//
//   - on the old primary, --state DIR --group G stores the image files in
//     DIR/store as the replica of the new primary (PrimaryHost.Demote: the
//     blocks written since the last common point are remembered, so only
//     what differs crosses the wire) — serve that store;
//   - on the failed-over replica, --store DIR --group G --to ADDR makes
//     its serve the group's primary, replicating to the old primary's
//     serve at ADDR (ReplicaHost.Reverse).
func runReverse(env *cmdEnv, args []string) error {
	var f storeFlags
	var state, to string
	var every time.Duration
	var peer peerFlags
	fs := newFlagSet(env, "reverse")
	f.register(fs, true)
	fs.StringVar(&state, "state", "", "on the old primary: its state directory")
	fs.StringVar(&to, "to", "", "with --store: the old primary's serve address")
	fs.DurationVar(&every, "every", replica.DefaultFrequency, "with --store: cycle frequency (at least 30s)")
	peer.register(fs)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if (state == "") == (f.store == "") {
		return usagef("give exactly one of --state (old primary) and --store (new primary)")
	}
	if err := requireFlag("group", f.group); err != nil {
		return err
	}
	if state != "" {
		if to != "" {
			return usagef("--to goes with --store")
		}
		gf := &groupFlags{state: state, group: f.group, peer: peer}
		g, lock, err := gf.openLocked(env, nil)
		if err != nil {
			return err
		}
		defer lock.unlock()
		defer g.close()
		// The change map Demote keeps must hold what other programs
		// wrote to the files since the last cycle, too.
		scans, err := g.scanVolumes(env.ctx)
		if err != nil {
			return err
		}
		if err := g.mark(scans); err != nil {
			return err
		}
		dir, err := demote(env.ctx, g)
		if err != nil {
			return fmt.Errorf("group %s: %w", f.group, err)
		}
		if f.json {
			return writeJSON(env.stdout, map[string]string{"group": f.group, "store": dir})
		}
		fmt.Fprintf(env.stdout, "%s: this host is the group's replica now, in %s: serve it with blockrep serve --store %s, then run blockrep reverse --store ... --group %s --to ADDR on the new primary\n",
			f.group, dir, dir, f.group)
		return nil
	}
	if err := requireFlag("to", to); err != nil {
		return err
	}
	if every < replica.MinFrequency {
		return usagef("--every %s: at least %s", every, replica.MinFrequency)
	}
	var res reverseResult
	if err := storeRequest(env.ctx, f.store, controlRequest{Op: "reverse", Group: f.group, To: to, Every: duration(every)}, &res); err != nil {
		return err
	}
	if f.json {
		return writeJSON(env.stdout, res)
	}
	fmt.Fprintf(env.stdout, "%s: replicating from this store to %s every %s (%s)\n", res.Group, res.To, res.Every, res.State)
	return nil
}
