package replicasim_test

import (
	"context"
	"flag"
	"log/slog"
	"os"
	"testing"
	"time"

	"github.com/blockrep/blockrep/replica/replicasim"
	"github.com/stretchr/testify/require"
)

var (
	flagSeed     = flag.Uint64("seed", 0, "run only this seed (0: run -seeds seeds from -from)")
	flagFrom     = flag.Uint64("from", 1, "first seed of a run of seeds")
	flagMaxFail  = flag.Int("maxfail", 10, "failures after which a soak stops")
	flagSeeds    = flag.Int("seeds", defaultSeeds, "number of seeds to run")
	flagSteps    = flag.Int("steps", defaultSteps, "steps per schedule")
	flagSoak     = flag.Duration("soak", 0, "run seeds until this much time passed (overrides -seeds)")
	flagSchedule = flag.String("schedule", "", "run this schedule (as a failure prints it) with -seed")
	flagShrink   = flag.Int("shrink", 300, "runs at most spent shrinking a failure")
	flagLog      = flag.Bool("log", false, "print the hosts' logs (with -schedule)")
)

// TestSimulation runs a seeded schedule of writes, cycles, faults, crashes
// and failovers per seed and checks the invariants after every step.
// A failure prints its seed and the shortest failing schedule found.
func TestSimulation(t *testing.T) {
	ctx := context.Background()
	if *flagSchedule != "" {
		steps, err := replicasim.ParseSteps(*flagSchedule)
		require.NoError(t, err)
		cfg := replicasim.Config{Seed: *flagSeed}
		if *flagLog {
			cfg.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
		}
		f, err := replicasim.Run(ctx, cfg, steps)
		require.NoError(t, err)
		if f != nil {
			t.Fatal(f.Report())
		}
		return
	}
	if *flagSeed != 0 {
		runSeed(t, ctx, *flagSeed)
		return
	}
	start := time.Now()
	seeds, steps, failures := 0, 0, 0
	for seed := *flagFrom; ; seed++ {
		if *flagSoak > 0 {
			if time.Since(start) >= *flagSoak {
				break
			}
		} else if seed >= *flagFrom+uint64(*flagSeeds) {
			break
		}
		seeds++
		steps += *flagSteps
		if !runSeed(t, ctx, seed) {
			failures++
			if *flagSoak == 0 || failures >= *flagMaxFail {
				break
			}
		}
	}
	t.Logf("seeds %d..%d: %d seeds, %d steps, %d failures in %v", *flagFrom, *flagFrom+uint64(seeds)-1, seeds, steps, failures, time.Since(start).Round(time.Millisecond))
}

func runSeed(t *testing.T, ctx context.Context, seed uint64) bool {
	t.Helper()
	f, err := replicasim.Simulate(ctx, replicasim.Config{}, seed, *flagSteps, *flagShrink)
	require.NoError(t, err)
	if f != nil {
		t.Errorf("%s\nreproduce: go test ./replica/replicasim -run TestSimulation -seed %d -steps %d", f.Report(), seed, *flagSteps)
		return false
	}
	return true
}
