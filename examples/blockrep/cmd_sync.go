package main

import (
	"fmt"
	"os"

	"github.com/blockrep/blockrep/replica"
)

// groupFlags are the flags of the primary commands that act on one group.
type groupFlags struct {
	state, group string
	store        string // sync only: a group the store's serve replicates back
	json         bool
	progress     bool
	peer         peerFlags
}

func parseGroupFlags(env *cmdEnv, name string, args []string, withJSON, withPeer bool) (*groupFlags, error) {
	f := &groupFlags{}
	fs := newFlagSet(env, name)
	fs.StringVar(&f.state, "state", "", "the primary's state directory")
	fs.StringVar(&f.group, "group", "", "the group id")
	if withJSON {
		fs.BoolVar(&f.json, "json", false, "print the result as JSON")
	}
	if withPeer {
		f.peer.register(fs)
	}
	if name == "sync" {
		fs.StringVar(&f.store, "store", "", "instead of --state: run a cycle of a group this store's serve replicates back after a failover")
		fs.BoolVar(&f.progress, "progress", false, "print \"sent N\" on stderr after every frame sent to the replica (N: bytes so far)")
	}
	if err := parseFlags(fs, args); err != nil {
		return nil, err
	}
	if f.store != "" && f.state != "" {
		return nil, usagef("--state and --store exclude each other")
	}
	if f.store == "" {
		if err := requireFlag("state", f.state); err != nil {
			return nil, err
		}
	}
	if err := requireFlag("group", f.group); err != nil {
		return nil, err
	}
	if f.peer.given() {
		if err := f.peer.validate(); err != nil {
			return nil, err
		}
	}
	return f, nil
}

// openLocked locks the state directory and opens the group.
func (f *groupFlags) openLocked(env *cmdEnv, progress func(done, total int64)) (*primaryGroup, *dirLock, error) {
	var sent func(int64)
	if f.progress {
		sent = func(n int64) { fmt.Fprintf(env.stderr, "sent %d\n", n) }
	}
	if _, err := os.Stat(f.state); err != nil {
		return nil, nil, err
	}
	lock, err := lockDir(f.state)
	if err != nil {
		return nil, nil, err
	}
	g, err := openPrimaryGroupSent(env.ctx, stateDir{root: f.state}, f.group, f.peer, env.stderr, progress, sent)
	if err != nil {
		lock.unlock()
		return nil, nil, err
	}
	return g, lock, nil
}

func runSync(env *cmdEnv, args []string) error {
	f, err := parseGroupFlags(env, "sync", args, true, true)
	if err != nil {
		return err
	}
	if f.store != "" {
		var res syncResult
		if err := storeRequest(env.ctx, f.store, controlRequest{Op: "sync", Group: f.group}, &res); err != nil {
			return err
		}
		return printSync(env, f.json, res)
	}
	bar := newProgressBar(env.stderr, "initial replication")
	progress := bar.update
	if f.progress {
		progress = nil // the sent lines say it
	}
	g, lock, err := f.openLocked(env, progress)
	if err != nil {
		return err
	}
	defer lock.unlock()
	defer g.close()
	res, err := g.sync(env.ctx, false)
	bar.finish()
	if err != nil {
		return fmt.Errorf("group %s: %w", f.group, err)
	}
	if err := g.close(); err != nil {
		return err
	}
	return printSync(env, f.json, res)
}

func printSync(env *cmdEnv, asJSON bool, res syncResult) error {
	if asJSON {
		return writeJSON(env.stdout, res)
	}
	what := "cycle"
	if res.Initial {
		what = "initial replication"
	}
	_, err := fmt.Fprintf(env.stdout, "%s %s: point %s, %d blocks, %s sent in %d ms\n",
		res.Group, what, res.Point, res.Blocks, formatBytes(res.BytesSent), res.DurationMS)
	return err
}

func runSuspend(env *cmdEnv, args []string) error {
	f, err := parseGroupFlags(env, "suspend", args, false, false)
	if err != nil {
		return err
	}
	return f.withState(env, "suspend")
}

func runResume(env *cmdEnv, args []string) error {
	f, err := parseGroupFlags(env, "resume", args, false, false)
	if err != nil {
		return err
	}
	return f.withState(env, "resume")
}

// withState suspends or resumes the group: the state file records it, and
// every later command reopens the relationship in that state. Neither
// contacts the replica.
func (f *groupFlags) withState(env *cmdEnv, op string) error {
	lock, err := lockDir(f.state)
	if err != nil {
		return err
	}
	defer lock.unlock()
	dir := stateDir{root: f.state}
	st, err := dir.load(f.group)
	if err != nil {
		return err
	}
	switch {
	case op == "suspend" && (st.State == replica.Replicating || st.State == replica.InitialReplicationPending):
		st.ResumeTo = st.State
		st.State = replica.Suspended
	case op == "resume" && st.State == replica.Suspended:
		st.State = st.ResumeTo
		if st.State == replica.StateNone {
			st.State = replica.Replicating
		}
	default:
		return fmt.Errorf("group %s: cannot %s in state %s", f.group, op, st.State)
	}
	if err := dir.save(st); err != nil {
		return err
	}
	_, err = fmt.Fprintf(env.stdout, "%s: %s\n", f.group, st.State)
	return err
}

func runResync(env *cmdEnv, args []string) error {
	f, err := parseGroupFlags(env, "resync", args, true, true)
	if err != nil {
		return err
	}
	g, lock, err := f.openLocked(env, nil)
	if err != nil {
		return err
	}
	defer lock.unlock()
	defer g.close()
	res, err := g.resync(env.ctx)
	if err != nil {
		return fmt.Errorf("group %s: %w", f.group, err)
	}
	if f.json {
		return writeJSON(env.stdout, res)
	}
	_, err = fmt.Fprintf(env.stdout, "%s resynchronized: point %s, %d differing blocks, %d sent (%s), hash traffic %s in %d rounds\n",
		f.group, res.Point, res.DifferingBlocks, res.Blocks, formatBytes(res.StreamBytes), formatBytes(res.HashBytes), res.HashRounds)
	return err
}
