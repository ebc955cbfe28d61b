package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
)

// Bounds of the -size flag: a few blocks at least, and no more than a
// laptop's disk should be asked for by a demo.
const (
	minSize = 256 << 10
	maxSize = 64 << 30
)

// errUsage is returned by parseOptions for flags it cannot use; run exits 2.
var errUsage = errors.New("quickstart: bad usage")

// options are the command's settings, from its flags.
type options struct {
	Keep   bool          // keep the temporary directory
	Seed   uint64        // seeds the volumes' content and the writer
	Size   int64         // the first volume's size; the second is a quarter of it
	Cycles int           // cycles of the main replication phase
	Every  time.Duration // the interval between cycles (0: back to back)
	Writes int           // blocks the writer writes per second (0: derived from Size)
	Dir    string        // where to make the temporary directory ("": the system's)

	// afterStep, when set, is called after each step with its name and the
	// story's directories: the tests use it to damage a store between steps.
	afterStep func(step string, dirs storyDirs)
}

// storyDirs names the directories a run works in.
type storyDirs struct {
	Root    string            // the temporary directory
	Volumes string            // the primary's volume files
	Stores  map[string]string // host name → its checkpoint store root
}

// parseOptions reads the command line. seed is the seed used when -seed is
// not given (main passes a fresh random one, so each run differs unless the
// seed printed by an earlier run is given back).
func parseOptions(args []string, seed uint64, stderr io.Writer) (options, error) {
	o := options{Seed: seed}
	size := sizeFlag(256 << 20)
	fs := flag.NewFlagSet("quickstart", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: go run ./examples/quickstart [flags]")
		fmt.Fprintln(stderr, "\nRuns blockrep's whole story on this machine: a primary, a replica and an extended")
		fmt.Fprintln(stderr, "replica over mutual TLS on loopback, cycles while a writer writes, test, planned and")
		fmt.Fprintln(stderr, "unplanned failover, reverse replication; every step verified by content hash.")
		fmt.Fprintln(stderr, "\nflags:")
		fs.PrintDefaults()
	}
	fs.BoolVar(&o.Keep, "keep", false, "keep the temporary directory (volumes, stores, certificates)")
	fs.Uint64Var(&o.Seed, "seed", seed, "seed of the volumes' content and of the writer (default: random, printed)")
	fs.Var(&size, "size", "size of the first volume (the second is a quarter of it), e.g. 8MiB or 1GiB")
	fs.IntVar(&o.Cycles, "cycles", 8, "cycles of the main replication phase (the later phases run a few each)")
	fs.DurationVar(&o.Every, "every", time.Second, "interval between cycles (0: back to back)")
	fs.IntVar(&o.Writes, "writes", 0, "blocks the writer writes per second (0: 1/64 of the blocks)")
	fs.StringVar(&o.Dir, "tmp", "", "where to make the temporary directory (default: the system's)")
	if err := fs.Parse(args); err != nil {
		return o, fmt.Errorf("%w: %w", errUsage, err)
	}
	if fs.NArg() > 0 {
		fs.Usage()
		return o, fmt.Errorf("%w: unexpected arguments %q", errUsage, fs.Args())
	}
	o.Size = int64(size)
	switch {
	case o.Size < minSize || o.Size > maxSize:
		return o, fmt.Errorf("%w: -size %s is outside %s..%s", errUsage, formatBytes(o.Size), formatBytes(minSize), formatBytes(maxSize))
	case o.Cycles < 3 || o.Cycles > 10000:
		return o, fmt.Errorf("%w: -cycles %d is outside 3..10000", errUsage, o.Cycles)
	case o.Every < 0 || o.Every > time.Hour:
		return o, fmt.Errorf("%w: -every %s is outside 0..1h", errUsage, o.Every)
	case o.Writes < 0 || o.Writes > 1_000_000:
		return o, fmt.Errorf("%w: -writes %d is outside 0..1000000", errUsage, o.Writes)
	}
	return o, nil
}

// sizeFlag is a byte count given as a number with an optional unit: B, KiB,
// MiB, GiB or TiB (and KB, MB, GB, TB, K, M, G, T as their binary
// equivalents), case-insensitive.
type sizeFlag int64

func (s *sizeFlag) String() string { return formatBytes(int64(*s)) }

func (s *sizeFlag) Set(v string) error {
	n, err := parseSize(v)
	if err != nil {
		return err
	}
	*s = sizeFlag(n)
	return nil
}

// parseSize parses a byte count such as "4MiB", "1.5 GiB" or "65536".
func parseSize(v string) (int64, error) {
	t := strings.TrimSpace(v)
	i := strings.IndexFunc(t, func(r rune) bool { return (r < '0' || r > '9') && r != '.' })
	num, unit := t, ""
	if i >= 0 {
		num, unit = t[:i], strings.TrimSpace(t[i:])
	}
	shift, ok := map[string]uint{
		"": 0, "b": 0,
		"k": 10, "kb": 10, "kib": 10,
		"m": 20, "mb": 20, "mib": 20,
		"g": 30, "gb": 30, "gib": 30,
		"t": 40, "tb": 40, "tib": 40,
	}[strings.ToLower(unit)]
	if !ok || num == "" {
		return 0, fmt.Errorf("size %q: want a number and a unit such as 8MiB", v)
	}
	f, err := strconv.ParseFloat(num, 64)
	if err != nil || f < 0 {
		return 0, fmt.Errorf("size %q: want a number and a unit such as 8MiB", v)
	}
	bytes := f * float64(uint64(1)<<shift)
	if bytes > maxSize*4 {
		return 0, fmt.Errorf("size %q is too large", v)
	}
	return int64(bytes), nil
}
