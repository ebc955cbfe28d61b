package replicasim

import "context"

// Shrink looks for a shorter schedule that still fails f's check, by delta
// debugging: it cuts the schedule after the failing step, then tries
// dropping halves, quarters and so on down to single steps, keeping every cut
// after which the same check still fails (a cut is run twice before it is
// judged to pass, for failures that need a particular interleaving). It runs at most maxRuns schedules
// (0: 300) and returns the shortest failure found (f itself if no cut kept
// failing). The error is ctx's or a cluster that could not be set up.
func Shrink(ctx context.Context, cfg Config, f *Failure, maxRuns int) (*Failure, error) {
	if maxRuns <= 0 {
		maxRuns = 300
	}
	best := f
	runs := 0
	// A failure that depends on goroutine scheduling (an apply still
	// running when the next step starts) may not show on every run: a
	// candidate is run twice before it is judged to pass.
	try := func(steps []Step) (bool, error) {
		for range 2 {
			runs++
			got, err := Run(ctx, cfg, steps)
			if err != nil {
				return false, err
			}
			if got != nil && got.Check == f.Check {
				best = got
				return true, nil
			}
		}
		return false, nil
	}
	steps := best.Schedule
	if best.Step+1 < len(steps) {
		ok, err := try(steps[:best.Step+1])
		if err != nil {
			return best, err
		}
		if ok {
			steps = best.Schedule
		}
	}
	for n := 2; len(steps) > 1 && runs < maxRuns; {
		chunk := (len(steps) + n - 1) / n
		removed := false
		for start := 0; start < len(steps) && runs < maxRuns; start += chunk {
			cand := make([]Step, 0, len(steps))
			cand = append(cand, steps[:start]...)
			cand = append(cand, steps[min(start+chunk, len(steps)):]...)
			if len(cand) == 0 {
				continue
			}
			ok, err := try(cand)
			if err != nil {
				return best, err
			}
			if ok {
				steps = best.Schedule
				if best.Step+1 < len(steps) {
					steps = steps[:best.Step+1]
				}
				removed = true
				break
			}
		}
		switch {
		case removed:
			n = max(n-1, 2)
		case chunk == 1:
			return best, nil
		default:
			n = min(2*n, len(steps))
		}
	}
	return best, nil
}

// Simulate generates the schedule of n steps for seed, runs it on a cluster
// made for cfg with cfg.Seed set to seed, and shrinks a failure with at most
// maxRuns more runs.
func Simulate(ctx context.Context, cfg Config, seed uint64, n, maxRuns int) (*Failure, error) {
	cfg.Seed = seed
	f, err := Run(ctx, cfg, Generate(seed, n))
	if err != nil || f == nil {
		return f, err
	}
	return Shrink(ctx, cfg, f, maxRuns)
}
