package main

import (
	"fmt"
	"text/tabwriter"
)

type storeFlags struct {
	store, group string
	json         bool
}

func (f *storeFlags) register(fs interface {
	StringVar(*string, string, string, string)
	BoolVar(*bool, string, bool, string)
}, withJSON bool) {
	fs.StringVar(&f.store, "store", "", "the replica's store directory")
	fs.StringVar(&f.group, "group", "", "the group id")
	if withJSON {
		fs.BoolVar(&f.json, "json", false, "print JSON")
	}
}

func (f *storeFlags) check(groupRequired bool) error {
	if err := requireFlag("store", f.store); err != nil {
		return err
	}
	if groupRequired {
		return requireFlag("group", f.group)
	}
	return nil
}

func runPoints(env *cmdEnv, args []string) error {
	var f storeFlags
	fs := newFlagSet(env, "points")
	f.register(fs, true)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if err := f.check(true); err != nil {
		return err
	}
	var pts []pointJSON
	if err := storeRequest(env.ctx, f.store, controlRequest{Op: "points", Group: f.group}, &pts); err != nil {
		return err
	}
	if f.json {
		return writeJSON(env.stdout, pts)
	}
	tw := tabwriter.NewWriter(env.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tTIME\tKIND\tBYTES\tBLOCKS")
	for _, p := range pts {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%d\n", p.ID, p.Time.Format("2006-01-02T15:04:05.000Z07:00"), p.Kind, p.Bytes, p.Blocks)
	}
	return tw.Flush()
}

func runExport(env *cmdEnv, args []string) error {
	var f storeFlags
	var point, out string
	fs := newFlagSet(env, "export")
	f.register(fs, true)
	fs.StringVar(&point, "point", "latest", "the point: an id from blockrep points, or latest")
	fs.StringVar(&out, "out", "", "the directory to write the volumes to (DIR/<volume name>)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if err := f.check(true); err != nil {
		return err
	}
	if err := requireFlag("out", out); err != nil {
		return err
	}
	if point == "latest-app" {
		return usagef("--point: an id or latest")
	}
	var res exportResult
	if err := storeRequest(env.ctx, f.store, controlRequest{Op: "export", Group: f.group, Point: point, Out: out}, &res); err != nil {
		return err
	}
	if f.json {
		return writeJSON(env.stdout, res)
	}
	fmt.Fprintf(env.stdout, "exported %s point %s:\n", res.Group, res.Point)
	for _, n := range res.Files {
		fmt.Fprintf(env.stdout, "  %s\n", n)
	}
	return nil
}
