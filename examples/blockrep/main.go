package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// run executes one command line and returns the process's exit status:
// 0 on success, 2 for a usage error, 1 for any other failure, whose
// message is one line on stderr.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		printUsage(stderr)
		return 2
	}
	name := args[0]
	if name == "help" || name == "-h" || name == "--help" || name == "-help" {
		if len(args) > 1 {
			if c := lookupCommand(args[1]); c != nil {
				return run(ctx, []string{args[1], "--help"}, stdout, stderr)
			}
		}
		printUsage(stdout)
		return 0
	}
	c := lookupCommand(name)
	if c == nil {
		fmt.Fprintf(stderr, "blockrep: unknown command %q (run \"blockrep help\")\n", name)
		return 2
	}
	env := &cmdEnv{ctx: ctx, stdout: stdout, stderr: stderr}
	err := c.run(env, args[1:])
	return exitStatus(stderr, name, err)
}
