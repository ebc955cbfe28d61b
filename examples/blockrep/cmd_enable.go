package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/blockrep/blockrep/checkpoint"
	"github.com/blockrep/blockrep/delta"
	"github.com/blockrep/blockrep/replica"
)

// enableFlags are the flags of "blockrep enable".
type enableFlags struct {
	state, group, replica string
	volumes               listFlag
	every                 time.Duration
	points                int
	pointEvery            time.Duration
	appEvery              time.Duration
	noCompress            bool
	initial               string
	blockSize             int
	peer                  peerFlags
}

func parseEnable(env *cmdEnv, args []string) (*enableFlags, error) {
	f := &enableFlags{}
	fs := newFlagSet(env, "enable")
	fs.StringVar(&f.state, "state", "", "the primary's state directory (created if missing)")
	fs.StringVar(&f.group, "group", "", "the group id: 1-255 characters of [A-Za-z0-9._-]")
	fs.Var(&f.volumes, "volume", "an image file of the group (repeat for several; the replica names each by its base name)")
	fs.StringVar(&f.replica, "replica", "", "the replica host's address (host:port of its blockrep serve)")
	fs.DurationVar(&f.every, "every", 30*time.Second, "replication frequency (at least 30s)")
	fs.IntVar(&f.points, "points", 0, "additional recovery points the replica keeps besides the latest")
	fs.DurationVar(&f.pointEvery, "point-every", time.Hour, "keep one additional point per this interval (0: every cycle's point, up to --points)")
	fs.DurationVar(&f.appEvery, "app-every", 0, "make a point app-consistent this often (the image files are flushed before the freeze); 0: never")
	fs.BoolVar(&f.noCompress, "no-compress", false, "send deltas uncompressed")
	fs.StringVar(&f.initial, "initial", "network", "initial replication: network (now, with a progress bar), media:DIR (export to offline media now; blockrep import on the replica), seed (the replica holds a copy: blockrep seed there, then sync) or later (the first sync or run sends it)")
	fs.IntVar(&f.blockSize, "block-size", delta.DefaultBlockSize, "block size in bytes: a power of two from 4096 to 4194304")
	f.peer.register(fs)
	if err := parseFlags(fs, args); err != nil {
		return nil, err
	}
	return f, f.validate()
}

func (f *enableFlags) validate() error {
	for _, r := range []struct{ name, v string }{{"state", f.state}, {"group", f.group}, {"replica", f.replica}} {
		if err := requireFlag(r.name, r.v); err != nil {
			return err
		}
	}
	if err := checkpoint.ValidGroupID(f.group); err != nil {
		return usagef("--group: %v", err)
	}
	if len(f.volumes) == 0 {
		return usagef("--volume is required")
	}
	names := map[string]bool{}
	for _, v := range f.volumes {
		b := filepath.Base(v)
		if names[b] {
			return usagef("--volume: two volumes are named %q (the base names must differ)", b)
		}
		names[b] = true
	}
	if f.every < replica.MinFrequency {
		return usagef("--every %s: at least %s", f.every, replica.MinFrequency)
	}
	if f.points < 0 {
		return usagef("--points %d: must not be negative", f.points)
	}
	if f.pointEvery < 0 || f.appEvery < 0 {
		return usagef("--point-every and --app-every must not be negative")
	}
	if _, err := delta.NewGeometry(0, f.blockSize); err != nil {
		return usagef("--block-size %d: %v", f.blockSize, err)
	}
	switch {
	case f.initial == "network", f.initial == "later", f.initial == "seed":
	case strings.HasPrefix(f.initial, "media:"):
		if strings.TrimPrefix(f.initial, "media:") == "" {
			return usagef("--initial media:DIR needs the directory")
		}
	default:
		return usagef("--initial %q: want network, media:DIR, seed or later", f.initial)
	}
	return f.peer.validate()
}

func runEnable(env *cmdEnv, args []string) error {
	f, err := parseEnable(env, args)
	if err != nil {
		return err
	}
	dir := stateDir{root: f.state}
	if err := os.MkdirAll(dir.groupsDir(), 0o700); err != nil {
		return err
	}
	lock, err := lockDir(f.state)
	if err != nil {
		return err
	}
	defer lock.unlock()
	if _, err := os.Stat(dir.statePath(f.group)); err == nil {
		return fmt.Errorf("group %s is already enabled in %s", f.group, f.state)
	}
	if m, ok := strings.CutPrefix(f.initial, "media:"); ok {
		a, err := filepath.Abs(m)
		if err != nil {
			return err
		}
		f.initial = "media:" + a
	}
	st := &groupState{
		Version: stateVersion, Group: f.group, Replica: f.replica,
		Frequency: duration(f.every), Points: f.points, PointEvery: duration(f.pointEvery),
		AppEvery: duration(f.appEvery), NoCompress: f.noCompress, BlockSize: f.blockSize,
		Initial: f.initial, State: replica.InitialReplicationPending,
		Cert: abs(f.peer.cert), Key: abs(f.peer.key), CA: abs(f.peer.ca), Insecure: f.peer.insecure, Name: f.peer.name,
		Stats: savedStats{WindowStart: time.Now()},
	}
	for _, v := range f.volumes {
		p, err := filepath.Abs(v)
		if err != nil {
			return err
		}
		fi, err := os.Stat(p)
		if err != nil {
			return err
		}
		if !fi.Mode().IsRegular() {
			return fmt.Errorf("volume %s is not a regular file", p)
		}
		st.Volumes = append(st.Volumes, p)
		st.Sizes = append(st.Sizes, fi.Size())
	}
	if err := dir.save(st); err != nil {
		return err
	}
	var bar *progressBar
	switch {
	case f.initial == "network":
		bar = newProgressBar(env.stderr, "initial replication")
	case strings.HasPrefix(f.initial, "media:"):
		bar = newProgressBar(env.stderr, "export to media")
	}
	var progress func(done, total int64)
	if bar != nil {
		progress = bar.update
	}
	g, err := openPrimaryGroup(env.ctx, dir, f.group, f.peer, env.stderr, progress)
	if err != nil {
		// Nothing is left enabled.
		os.Remove(dir.statePath(f.group))
		os.Remove(dir.trackerPath(f.group))
		return err
	}
	defer g.close()
	switch f.initial {
	case "later":
		fmt.Fprintf(env.stdout, "enabled %s: %d volume(s) to %s; initial replication waits for sync or run\n", f.group, len(st.Volumes), f.replica)
		return g.saveState()
	case "seed":
		fmt.Fprintf(env.stdout, "enabled %s: %d volume(s) to %s; run blockrep seed on the replica with a copy, then blockrep sync here\n", f.group, len(st.Volumes), f.replica)
		return g.saveState()
	}
	res, err := g.sync(env.ctx, false)
	bar.finish()
	if err != nil {
		return fmt.Errorf("group %s enabled, initial replication failed (run blockrep sync to retry): %w", f.group, err)
	}
	if res.Exported {
		fmt.Fprintf(env.stdout, "enabled %s: %d volume(s) to %s; initial copy (point %s) exported to %s: carry it to the replica host and run blockrep import there; sync sends what changed once it is imported\n",
			f.group, len(st.Volumes), f.replica, res.Point, strings.TrimPrefix(f.initial, "media:"))
		return nil
	}
	fmt.Fprintf(env.stdout, "enabled %s: %d volume(s) to %s; initial replication done: point %s, %d blocks, %s sent in %d ms\n",
		f.group, len(st.Volumes), f.replica, res.Point, res.Blocks, formatBytes(res.BytesSent), res.DurationMS)
	return nil
}

// abs makes a non-empty path absolute, so the state directory stays valid
// from any working directory.
func abs(p string) string {
	if p == "" {
		return ""
	}
	if a, err := filepath.Abs(p); err == nil {
		return a
	}
	return p
}
