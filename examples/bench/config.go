package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// blockSize is the block size of every workload (blockrep's default).
const blockSize = 64 << 10

// pageSize is the unit of the writes a cycle's change is made of.
const pageSize = 4 << 10

// config is what the flags ask for.
type config struct {
	size       int64    // bytes of the main volume
	scaleSize  int64    // bytes of the sparse volume of the scale workload
	rounds     int      // rounds of each workload
	jsonOut    bool     // print JSON instead of the table
	jsonFile   string   // also write the JSON to this file
	insecure   bool     // plain TCP instead of mutual TLS
	rsyncFsync bool     // pass --fsync to rsync
	seed       uint64   // content and change seed
	dir        string   // work directory ("" = a new temporary one, removed after)
	keep       bool     // keep the work directory
	workloads  []string // which workloads to run, in order
	profile    string   // directory for CPU profiles of blockrep's processes
	child      string   // internal: run one side of a measurement
}

// allWorkloads are the workloads in the order they run: each builds on the
// state the previous one left (the main volume and its replica).
var allWorkloads = []string{"initial", "tracked", "scan", "resync", "apply", "scale"}

func parseFlags(args []string, stderr io.Writer) (config, error) {
	var cfg config
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	size := fs.String("size", "1GiB", "size of the main volume (a multiple of 64KiB; KiB, MiB, GiB suffixes)")
	scale := fs.String("scale-size", "", "size of the scale workload's sparse volume (default 64 × -size, 16 × below 1GiB)")
	fs.IntVar(&cfg.rounds, "rounds", 3, "rounds of each workload (blockrep and the other side alternate)")
	fs.BoolVar(&cfg.jsonOut, "json", false, "print the results as JSON")
	fs.StringVar(&cfg.jsonFile, "json-file", "", "also write the results as JSON to this file")
	fs.BoolVar(&cfg.insecure, "insecure", false, "blockrep over plain TCP instead of mutual TLS")
	fs.BoolVar(&cfg.rsyncFsync, "rsync-fsync", false, "pass --fsync to rsync, so it syncs like blockrep does")
	fs.Uint64Var(&cfg.seed, "seed", 1, "seed of the volumes' content and of the changes")
	fs.StringVar(&cfg.dir, "dir", "", "work directory (default: a new temporary directory, removed afterwards)")
	fs.BoolVar(&cfg.keep, "keep", false, "keep the work directory")
	wl := fs.String("workloads", strings.Join(allWorkloads, ","), "comma-separated workloads to run")
	fs.StringVar(&cfg.profile, "profile", "", "write CPU profiles of blockrep's processes into this directory")
	fs.StringVar(&cfg.child, "child", "", "internal: run one side of a measurement, described by this JSON")
	if err := fs.Parse(args); err != nil {
		return cfg, err
	}
	if fs.NArg() > 0 {
		return cfg, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	if cfg.child != "" {
		return cfg, nil
	}
	var err error
	if cfg.size, err = parseSize(*size); err != nil {
		return cfg, fmt.Errorf("-size: %w", err)
	}
	if cfg.size < 16*blockSize || cfg.size%blockSize != 0 {
		return cfg, fmt.Errorf("-size %d: must be a multiple of 64KiB, at least 1MiB", cfg.size)
	}
	// The scale workload is 64 GiB beside a 1 GiB volume; quick
	// runs at smaller sizes take 16 times theirs, because the unmeasured
	// first copy of the sparse volume still reads all of it.
	cfg.scaleSize = 64 * cfg.size
	if cfg.size < 1<<30 {
		cfg.scaleSize = 16 * cfg.size
	}
	if *scale != "" {
		if cfg.scaleSize, err = parseSize(*scale); err != nil {
			return cfg, fmt.Errorf("-scale-size: %w", err)
		}
		if cfg.scaleSize < cfg.size || cfg.scaleSize%blockSize != 0 {
			return cfg, fmt.Errorf("-scale-size %d: must be a multiple of 64KiB, at least -size", cfg.scaleSize)
		}
	}
	if cfg.rounds < 1 {
		return cfg, errors.New("-rounds must be at least 1")
	}
	for _, w := range strings.Split(*wl, ",") {
		w = strings.TrimSpace(w)
		if w == "" {
			continue
		}
		known := false
		for _, a := range allWorkloads {
			known = known || a == w
		}
		if !known {
			return cfg, fmt.Errorf("-workloads: unknown workload %q (known: %s)", w, strings.Join(allWorkloads, ", "))
		}
		cfg.workloads = append(cfg.workloads, w)
	}
	if len(cfg.workloads) == 0 {
		return cfg, errors.New("-workloads names no workload")
	}
	return cfg, nil
}

// parseSize reads a byte count with an optional KiB, MiB, GiB or TiB suffix.
func parseSize(s string) (int64, error) {
	units := []struct {
		suffix string
		shift  uint
	}{{"TiB", 40}, {"GiB", 30}, {"MiB", 20}, {"KiB", 10}, {"B", 0}}
	for _, u := range units {
		if num, ok := strings.CutSuffix(s, u.suffix); ok {
			n, err := strconv.ParseInt(strings.TrimSpace(num), 10, 64)
			if err != nil || n < 0 || n > (1<<62)>>u.shift {
				return 0, fmt.Errorf("bad size %q", s)
			}
			return n << u.shift, nil
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("bad size %q", s)
	}
	return n, nil
}

// formatSize prints a byte count with a binary unit.
func formatSize(n int64) string {
	switch {
	case n >= 1<<30 && n%(1<<30) == 0:
		return fmt.Sprintf("%dGiB", n>>30)
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%dMiB", n>>20)
	case n >= 1<<10 && n%(1<<10) == 0:
		return fmt.Sprintf("%dKiB", n>>10)
	}
	return fmt.Sprintf("%dB", n)
}
