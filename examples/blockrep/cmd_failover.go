package main

import (
	"fmt"
)

type failoverFlags struct {
	storeFlags
	point                  string
	test, complete, cancel bool
	stopTest, planned      bool
	out, state, reverseTo  string
	peer                   peerFlags
}

func parseFailover(env *cmdEnv, args []string) (*failoverFlags, error) {
	f := &failoverFlags{}
	fs := newFlagSet(env, "failover")
	f.storeFlags.register(fs, true)
	fs.StringVar(&f.point, "point", "latest", "the recovery point: an id, latest or latest-app")
	fs.BoolVar(&f.test, "test", false, "test failover: a throw-away copy while replication goes on")
	fs.StringVar(&f.out, "out", "", "write the failover's volumes to this directory (required with --test)")
	fs.BoolVar(&f.complete, "complete", false, "complete the unplanned failover: its image becomes the group's one point")
	fs.BoolVar(&f.cancel, "cancel", false, "cancel the unplanned failover: back to replicating, nothing kept")
	fs.BoolVar(&f.stopTest, "stop-test", false, "stop the test failover and discard its copy")
	fs.BoolVar(&f.planned, "planned", false, "planned failover, run on the primary: --state DIR, or --store DIR for a group its serve replicates back")
	fs.StringVar(&f.state, "state", "", "with --planned: the primary's state directory")
	fs.StringVar(&f.reverseTo, "reverse-to", "", "with --planned: this host's serve address, where the promoted replica replicates back")
	f.peer.register(fs)
	if err := parseFlags(fs, args); err != nil {
		return nil, err
	}
	return f, f.validate()
}

func (f *failoverFlags) validate() error {
	n := 0
	for _, b := range []bool{f.test, f.complete, f.cancel, f.stopTest, f.planned} {
		if b {
			n++
		}
	}
	if n > 1 {
		return usagef("--test, --complete, --cancel, --stop-test and --planned exclude each other")
	}
	if f.planned {
		if (f.state == "") == (f.store == "") {
			return usagef("--planned needs exactly one of --state (the primary of image files) and --store (a store whose serve replicates the group back)")
		}
		return requireFlag("group", f.group)
	}
	if err := f.check(true); err != nil {
		return err
	}
	if f.test && f.out == "" {
		return usagef("--test needs --out DIR")
	}
	if (f.complete || f.cancel || f.stopTest) && (f.out != "" || f.point != "latest") {
		return usagef("--point and --out go with starting a failover, not with --complete, --cancel or --stop-test")
	}
	if f.point != "latest" {
		if _, err := selector(f.point); err != nil {
			return err
		}
	}
	return nil
}

func runFailover(env *cmdEnv, args []string) error {
	f, err := parseFailover(env, args)
	if err != nil {
		return err
	}
	if f.planned {
		return plannedFailover(env, f)
	}
	req := controlRequest{Op: "failover", Group: f.group, Point: f.point, Out: f.out, Test: f.test}
	switch {
	case f.complete:
		req = controlRequest{Op: "complete", Group: f.group}
	case f.cancel:
		req = controlRequest{Op: "cancel", Group: f.group}
	case f.stopTest:
		req = controlRequest{Op: "stop-test", Group: f.group}
	}
	var res failoverResult
	if err := storeRequest(env.ctx, f.store, req, &res); err != nil {
		return err
	}
	if f.json {
		return writeJSON(env.stdout, res)
	}
	fmt.Fprintf(env.stdout, "%s: %s", res.Group, res.State)
	if res.Point != "" {
		fmt.Fprintf(env.stdout, " at point %s", res.Point)
	}
	fmt.Fprintln(env.stdout)
	for _, n := range res.Files {
		fmt.Fprintf(env.stdout, "  %s\n", n)
	}
	return nil
}
