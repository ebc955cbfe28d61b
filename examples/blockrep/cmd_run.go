package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/blockrep/blockrep/replica"
)

// runRun runs every group's cycles at its frequency until interrupted:
// each cycle is a sync (scan the image files, send what changed, record
// it), so changes by any program are picked up. A failed cycle counts as
// missed and the next one comes at the next tick. A live status line on
// stderr says where each group stands.
func runRun(env *cmdEnv, args []string) error {
	var state string
	var peer peerFlags
	fs := newFlagSet(env, "run")
	fs.StringVar(&state, "state", "", "the primary's state directory")
	peer.register(fs)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if err := requireFlag("state", state); err != nil {
		return err
	}
	if peer.given() {
		if err := peer.validate(); err != nil {
			return err
		}
	}
	if _, err := os.Stat(state); err != nil {
		return err
	}
	lock, err := lockDir(state)
	if err != nil {
		return err
	}
	defer lock.unlock()
	dir := stateDir{root: state}
	ids, err := dir.groups()
	if err != nil {
		return err
	}
	if len(ids) == 0 {
		return fmt.Errorf("no group is enabled in %s", state)
	}
	var groups []*primaryGroup
	defer func() {
		for _, g := range groups {
			g.close()
		}
	}()
	for _, id := range ids {
		if st, err := dir.load(id); err == nil && st.Demoted != "" {
			continue // handed over: a replica now
		}
		g, err := openPrimaryGroup(env.ctx, dir, id, peer, env.stderr, nil)
		if err != nil {
			return fmt.Errorf("group %s: %w", id, err)
		}
		groups = append(groups, g)
	}
	if len(groups) == 0 {
		return fmt.Errorf("every group of %s was handed over to its replica", state)
	}
	return runLoop(env.ctx, groups, env.stderr, time.Now)
}

// runLoop runs the groups' cycles, one group at a time, each when its
// frequency has passed since its last attempt, until ctx is done.
func runLoop(ctx context.Context, groups []*primaryGroup, status io.Writer, now func() time.Time) error {
	next := make([]time.Time, len(groups))
	line := make([]string, len(groups))
	for i, g := range groups {
		line[i] = g.st.Group + ": " + g.state().String()
	}
	show := func() { fmt.Fprintf(status, "\033[K%s\r", strings.Join(line, " | ")) }
	defer fmt.Fprintln(status)
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		show()
		select {
		case <-ctx.Done():
			return nil
		case <-timer.C:
		}
		for i, g := range groups {
			if now().Before(next[i]) {
				continue
			}
			next[i] = now().Add(time.Duration(g.st.Frequency))
			res, err := g.sync(ctx, true)
			switch {
			case ctx.Err() != nil:
				return nil
			case errors.Is(err, errSuspended):
				line[i] = g.st.Group + ": Suspended"
			case err != nil:
				line[i] = fmt.Sprintf("%s: %s, cycle failed: %v", g.st.Group, g.state(), err)
			default:
				line[i] = fmt.Sprintf("%s: %s, point %s, %d blocks, %s at %s", g.st.Group, replica.Replicating,
					res.Point[:8], res.Blocks, formatBytes(res.BytesSent), now().Format("15:04:05"))
			}
		}
		wait := time.Hour
		for _, t := range next {
			wait = min(wait, t.Sub(now()))
		}
		timer.Reset(max(wait, 0))
	}
}
