package main

import (
	"context"
	"fmt"
	"os"
)

// The command list, as "blockrep help" prints it.
func Example_help() {
	run(context.Background(), []string{"help"}, os.Stdout, os.Stdout)
	// Output:
	// usage: blockrep COMMAND [flags]   (blockrep COMMAND --help for a command's flags)
	//
	// commands:
	//   serve     serve a recovery-point store to authorized primaries
	//   points    list a group's recovery points
	//   export    write a point's volumes as image files
	//   failover  fail a group over
	//   seed      hold a copy of the primary's volumes as the group's seed
	//   extend    forward a group's points to a further replica (carried out by serve)
	//   import    import an initial copy from offline media
	//   enable    start replicating image files to a replica
	//   sync      run one replication cycle now
	//   run       run every group's cycles at its frequency until interrupted
	//   suspend   pause a group's replication
	//   resume    resume a suspended group
	//   resync    resynchronize a group by comparing block hashes
	//   reverse   replicate back after a failover
	//   status    state, health and statistics
	//
	// TLS: --cert FILE --key FILE --ca FILE, or --insecure for plain TCP (tests, trusted links).
}

// A usage error is one line on stderr and exit status 2.
func Example_usageError() {
	code := run(context.Background(), []string{"sync", "--state", "/tmp/x"}, os.Stdout, os.Stdout)
	fmt.Println("exit status", code)
	// Output:
	// blockrep sync: --group is required (see blockrep sync --help)
	// exit status 2
}

// The progress bar of an initial replication.
func Example_progressBar() {
	fmt.Println(renderBar("initial replication", 3<<20, 8<<20, 16))
	// Output:
	// initial replication [######..........]  37% 3.0 MiB / 8.0 MiB
}
