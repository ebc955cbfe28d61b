package replicasim_test

import (
	"context"
	"fmt"

	"github.com/blockrep/blockrep/replica/replicasim"
)

// Run a few seeds of the simulation, as go test does: each seed draws a
// schedule and a cluster shape, runs it, and checks the invariants after
// every step; a failure comes back shrunk, ready to print.
func Example() {
	ctx := context.Background()
	for seed := uint64(1); seed <= 3; seed++ {
		f, err := replicasim.Simulate(ctx, replicasim.Config{}, seed, 30, 100)
		if err != nil {
			fmt.Println("setup:", err)
			return
		}
		if f != nil {
			fmt.Println(f.Report())
			return
		}
		fmt.Printf("seed %d: 30 steps, every check held\n", seed)
	}
	// Output:
	// seed 1: 30 steps, every check held
	// seed 2: 30 steps, every check held
	// seed 3: 30 steps, every check held
}

// A schedule printed by a failure runs again as it was.
func ExampleParseSteps() {
	steps, err := replicasim.ParseSteps("write:1f,cycle:2,crash-replica:9a,cycle:3")
	if err != nil {
		fmt.Println(err)
		return
	}
	f, err := replicasim.Run(context.Background(), replicasim.Config{Seed: 7}, steps)
	fmt.Println(len(steps), "steps;", "failure:", f, "error:", err)
	fmt.Println(replicasim.FormatSteps(steps))
	// Output:
	// 4 steps; failure: <nil> error: <nil>
	// write:1f,cycle:2,crash-replica:9a,cycle:3
}
