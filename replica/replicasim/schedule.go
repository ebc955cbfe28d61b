package replicasim

import "math/rand/v2"

// weights says how often Generate picks each operation, in parts of the sum.
var weights = [numOps]int{
	OpWrite:             20,
	OpBurst:             8,
	OpOverwrite:         5,
	OpCycle:             22,
	OpCycleWriting:      6,
	OpAdvance:           5,
	OpPartition:         2,
	OpHeal:              3,
	OpCut:               3,
	OpDuplicate:         2,
	OpCorrupt:           3,
	OpDelay:             2,
	OpClearFaults:       4,
	OpCrashReplica:      4,
	OpCrashPrimary:      3,
	OpSuspend:           2,
	OpResume:            3,
	OpTestFailover:      3,
	OpStopTestFailover:  3,
	OpFailover:          2,
	OpCancelFailover:    2,
	OpCompleteFailover:  1,
	OpResync:            3,
	OpPrune:             2,
	OpExtend:            3,
	OpForward:           6,
	OpCrashExtended:     2,
	OpPartitionExtended: 1,
	OpPlannedRound:      2,
}

// Generate returns the schedule of n steps that seed stands for: the same
// seed always gives the same steps.
func Generate(seed uint64, n int) []Step {
	rng := rand.New(rand.NewPCG(seed, 0x5eed))
	total := 0
	for _, w := range weights {
		total += w
	}
	steps := make([]Step, 0, n)
	for range n {
		x := rng.IntN(total)
		op := Op(0)
		for i, w := range weights {
			if x < w {
				op = Op(i)
				break
			}
			x -= w
		}
		steps = append(steps, Step{Op: op, Arg: rng.Uint64()})
	}
	return steps
}
