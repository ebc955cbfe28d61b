package replicasim_test

import (
	"context"
	"testing"

	"github.com/blockrep/blockrep/replica/replicasim"
)

// BenchmarkSimulation runs one seeded 60-step schedule per iteration (seeds
// 1, 2, … in turn) and reports the steps simulated per second.
func BenchmarkSimulation(b *testing.B) {
	ctx := context.Background()
	const steps = 60
	seed := uint64(0)
	for b.Loop() {
		seed++
		f, err := replicasim.Run(ctx, replicasim.Config{Seed: seed}, replicasim.Generate(seed, steps))
		if err != nil {
			b.Fatal(err)
		}
		if f != nil {
			b.Fatal(f.Report())
		}
	}
	b.ReportMetric(float64(seed*steps)/b.Elapsed().Seconds(), "steps/s")
}
