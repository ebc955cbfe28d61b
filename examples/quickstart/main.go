package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/signal"
	"syscall"
	"time"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// run is the whole command: it returns the exit status — 0 when every step
// ran and every check held (or -help printed the usage), 1 when a check
// failed or a step could not run, 2 for bad flags, 130 when interrupted.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	opt, err := parseOptions(args, rand.Uint64()>>1, stderr)
	switch {
	case errors.Is(err, flag.ErrHelp):
		return 0
	case err != nil:
		fmt.Fprintln(stderr, err)
		return 2
	}
	return runStory(ctx, opt, stdout, stderr)
}

func runStory(ctx context.Context, opt options, stdout, stderr io.Writer) int {
	start := time.Now()
	root, err := os.MkdirTemp(opt.Dir, "blockrep-quickstart-")
	if err != nil {
		fmt.Fprintln(stderr, "quickstart:", err)
		return 1
	}
	s := &story{opt: opt, rep: newReport(stdout), root: root}
	err = s.run(ctx)
	if opt.Keep {
		s.rep.step("kept      %s (volumes/, stores/, certs/)", root)
	} else if rmErr := os.RemoveAll(root); rmErr != nil {
		err = errors.Join(err, rmErr)
	} else {
		s.rep.step("removed   %s", root)
	}
	switch {
	case err != nil && ctx.Err() != nil:
		fmt.Fprintf(stdout, "interrupted after %s (seed %d)\n", formatDuration(time.Since(start)), opt.Seed)
		return 130
	case errors.Is(err, errMismatch):
		fmt.Fprintf(stdout, "FAILED after %s, content differs: %v (seed %d)\n", formatDuration(time.Since(start)), err, opt.Seed)
		return 1
	case err != nil:
		fmt.Fprintf(stdout, "FAILED after %s, a step did not run: %v (seed %d)\n", formatDuration(time.Since(start)), err, opt.Seed)
		return 1
	}
	fmt.Fprintf(stdout, "OK: every step verified by content hash, in %s (seed %d)\n", formatDuration(time.Since(start)), opt.Seed)
	return 0
}
