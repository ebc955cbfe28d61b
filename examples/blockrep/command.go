package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
)

// command is one subcommand: its name, a one-line summary for the
// command list, and the function that parses its flags and runs it.
type command struct {
	name    string
	args    string // the synopsis after the name
	summary string
	run     func(env *cmdEnv, args []string) error
}

// cmdEnv is what a command runs with: its context (cancelled on SIGINT
// or SIGTERM) and its output streams.
type cmdEnv struct {
	ctx    context.Context
	stdout io.Writer
	stderr io.Writer
}

// usageError is a mistake on the command line: reported with exit status 2.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error {
	return &usageError{msg: fmt.Sprintf(format, args...)}
}

// commands is the command table, in the order "blockrep help" lists them.
var commands []*command

func init() {
	commands = []*command{
		{"serve", "--store DIR --listen ADDR [--allow ID[=GROUP-PATTERN]]... TLS", "serve a recovery-point store to authorized primaries", runServe},
		{"points", "--store DIR --group G [--json]", "list a group's recovery points", runPoints},
		{"export", "--store DIR --group G [--point ID|latest] --out DIR", "write a point's volumes as image files", runExport},
		{"failover", "--store DIR --group G [--point ID|latest|latest-app] [--test] [--out DIR] | --complete | --cancel | --stop-test; or --planned (--state DIR | --store DIR) --group G [--reverse-to ADDR]", "fail a group over", runFailover},
		{"seed", "--store DIR --group G --volume PATH...", "hold a copy of the primary's volumes as the group's seed", runSeed},
		{"extend", "--store DIR --group G --to ADDR [--every 5m] | --stop", "forward a group's points to a further replica (carried out by serve)", runExtend},
		{"import", "--store DIR --from MEDIA-DIR", "import an initial copy from offline media", runImport},
		{"enable", "--state DIR --group G --volume PATH... --replica ADDR [options] TLS", "start replicating image files to a replica", runEnable},
		{"sync", "--state DIR --group G [--json] TLS", "run one replication cycle now", runSync},
		{"run", "--state DIR TLS", "run every group's cycles at its frequency until interrupted", runRun},
		{"suspend", "--state DIR --group G", "pause a group's replication", runSuspend},
		{"resume", "--state DIR --group G", "resume a suspended group", runResume},
		{"resync", "--state DIR --group G TLS", "resynchronize a group by comparing block hashes", runResync},
		{"reverse", "--state DIR --group G (old primary) | --store DIR --group G --to ADDR [--every 5m] (new primary)", "replicate back after a failover", runReverse},
		{"status", "(--state DIR | --store DIR) [--group G] [--json]", "state, health and statistics", runStatus},
	}
}

func lookupCommand(name string) *command {
	for _, c := range commands {
		if c.name == name {
			return c
		}
	}
	return nil
}

func printUsage(w io.Writer) {
	fmt.Fprintln(w, "usage: blockrep COMMAND [flags]   (blockrep COMMAND --help for a command's flags)")
	fmt.Fprintln(w, "\ncommands:")
	for _, c := range commands {
		fmt.Fprintf(w, "  %-9s %s\n", c.name, c.summary)
	}
	fmt.Fprintln(w, "\nTLS: --cert FILE --key FILE --ca FILE, or --insecure for plain TCP (tests, trusted links).")
}

// newFlagSet returns the flag set of command c, printing its help to the
// command's stderr (stdout for an explicit --help).
func newFlagSet(env *cmdEnv, c string) *flag.FlagSet {
	fs := flag.NewFlagSet("blockrep "+c, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {
		cmd := lookupCommand(c)
		fmt.Fprintf(env.stdout, "usage: blockrep %s %s\n\n%s.\n\nflags:\n", c, cmd.args, cmd.summary)
		fs.SetOutput(env.stdout)
		fs.PrintDefaults()
		fs.SetOutput(io.Discard)
	}
	return fs
}

// parseFlags parses args into fs; no positional arguments are allowed.
func parseFlags(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fs.Usage()
			return errHelpShown
		}
		return &usageError{msg: err.Error()}
	}
	if fs.NArg() > 0 {
		return usagef("unexpected argument %q", fs.Arg(0))
	}
	return nil
}

// errHelpShown ends a command after it printed its --help.
var errHelpShown = errors.New("help shown")

// requireFlag reports a missing mandatory flag.
func requireFlag(name, value string) error {
	if value == "" {
		return usagef("--%s is required", name)
	}
	return nil
}

// exitStatus prints err as one line and returns the exit status.
func exitStatus(stderr io.Writer, name string, err error) int {
	switch {
	case err == nil, errors.Is(err, errHelpShown):
		return 0
	}
	msg := strings.ReplaceAll(err.Error(), "\n", "; ")
	var ue *usageError
	if errors.As(err, &ue) {
		fmt.Fprintf(stderr, "blockrep %s: %s (see blockrep %s --help)\n", name, msg, name)
		return 2
	}
	fmt.Fprintf(stderr, "blockrep %s: %s\n", name, msg)
	return 1
}

// listFlag is a flag that may be given several times.
type listFlag []string

func (l *listFlag) String() string { return strings.Join(*l, ",") }

func (l *listFlag) Set(v string) error {
	if v == "" {
		return errors.New("empty value")
	}
	*l = append(*l, v)
	return nil
}
