package main

import (
	"fmt"
	"path/filepath"
	"time"

	"github.com/blockrep/blockrep/replica"
)

// runExtend is "blockrep extend": the store's serve forwards the group's
// points to a further replica, dialing it with serve's own certificate.
func runExtend(env *cmdEnv, args []string) error {
	var f storeFlags
	var to string
	var every time.Duration
	var stop bool
	fs := newFlagSet(env, "extend")
	f.register(fs, true)
	fs.StringVar(&to, "to", "", "the further replica's address (its blockrep serve)")
	fs.DurationVar(&every, "every", replica.DefaultExtendFrequency, "forwarding interval (at least 30s)")
	fs.BoolVar(&stop, "stop", false, "stop the group's extended replication")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if err := f.check(true); err != nil {
		return err
	}
	if !stop {
		if err := requireFlag("to", to); err != nil {
			return err
		}
		if every < replica.MinFrequency {
			return usagef("--every %s: at least %s", every, replica.MinFrequency)
		}
	}
	var res extendResult
	req := controlRequest{Op: "extend", Group: f.group, To: to, Every: duration(every), Stop: stop}
	if err := storeRequest(env.ctx, f.store, req, &res); err != nil {
		return err
	}
	if f.json {
		return writeJSON(env.stdout, res)
	}
	switch {
	case res.Stopped:
		fmt.Fprintf(env.stdout, "%s: extended replication stopped\n", res.Group)
	case res.Started:
		fmt.Fprintf(env.stdout, "%s: forwarding to %s every %s\n", res.Group, res.To, res.Every)
	default:
		fmt.Fprintf(env.stdout, "%s: will forward to %s every %s once blockrep serve runs on %s\n", res.Group, res.To, res.Every, f.store)
	}
	return nil
}

// runImport is "blockrep import": apply an initial copy from offline media.
func runImport(env *cmdEnv, args []string) error {
	var f storeFlags
	var from string
	fs := newFlagSet(env, "import")
	f.register(fs, false)
	fs.BoolVar(&f.json, "json", false, "print JSON")
	fs.StringVar(&from, "from", "", "the media directory the primary's enable --initial media:DIR wrote")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if err := f.check(false); err != nil {
		return err
	}
	if err := requireFlag("from", from); err != nil {
		return err
	}
	abs, err := filepath.Abs(from)
	if err != nil {
		return err
	}
	var res importResult
	if err := storeRequest(env.ctx, f.store, controlRequest{Op: "import", From: abs}, &res); err != nil {
		return err
	}
	if f.json {
		return writeJSON(env.stdout, res)
	}
	what := "imported"
	if res.Replayed {
		what = "already held"
	}
	fmt.Fprintf(env.stdout, "%s: %s point %s (%s read)\n", res.Group, what, res.Point.ID, formatBytes(res.Bytes))
	return nil
}

// runSeed is "blockrep seed": hold a copy of the primary's volumes, made by
// other means, as the group's seed point.
func runSeed(env *cmdEnv, args []string) error {
	var f storeFlags
	var vols listFlag
	fs := newFlagSet(env, "seed")
	f.register(fs, true)
	fs.Var(&vols, "volume", "a copy of the primary's volume, in the group's order (repeat)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if err := f.check(true); err != nil {
		return err
	}
	if len(vols) == 0 {
		return usagef("--volume is required")
	}
	req := controlRequest{Op: "seed", Group: f.group}
	for _, v := range vols {
		a, err := filepath.Abs(v)
		if err != nil {
			return err
		}
		req.Volumes = append(req.Volumes, a)
	}
	var res seedResult
	if err := storeRequest(env.ctx, f.store, req, &res); err != nil {
		return err
	}
	if f.json {
		return writeJSON(env.stdout, res)
	}
	fmt.Fprintf(env.stdout, "%s: seeded, point %s; the primary's next sync sends only the blocks that differ\n", res.Group, res.Point.ID)
	return nil
}
