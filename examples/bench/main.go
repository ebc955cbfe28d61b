// Command bench measures blockrep side by side with rsync and with the
// machine's limits, on workloads it builds itself in a temporary directory.
//
// Usage:
//
//	go run ./examples/bench [-size 1GiB] [-rounds 3] [-json] [-insecure]
//
// It runs every workload of issue 8 — initial replication, a tracked cycle,
// a scan cycle, a resynchronization, the replica-side apply and a large sparse
// volume — as interleaved rounds (blockrep, then rsync or the plain baseline),
// verifies both sides byte for byte after every round, and prints the median,
// minimum and maximum of the time, the bytes on the wire and the peak RSS of
// each side, then every ratio with its target. Each side runs in child
// processes of this program (blockrep's primary and replica, rsync's client and
// daemon), so peak RSS comes from the kernel's accounting of whole processes
// on both sides alike. rsync columns need rsync on the PATH (apt-get install
// rsync); without it they are skipped with a note. The program installs
// nothing.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	err := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

// run parses args and runs either the whole benchmark or, with -child, one
// side of one measurement (the parent starts these).
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	cfg, err := parseFlags(args, stderr)
	if err != nil {
		return err
	}
	if cfg.child != "" {
		return runChild(ctx, cfg.child, stdin, stdout)
	}
	return runBench(ctx, cfg, stdout, stderr)
}
