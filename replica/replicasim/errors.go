package replicasim

import (
	"errors"
	"fmt"
	"strings"
)

// ErrSchedule is returned by ParseSteps for a schedule it cannot read.
var ErrSchedule = errors.New("replicasim: invalid schedule")

// ErrConfig is returned by NewCluster and Run for a Config out of bounds.
var ErrConfig = errors.New("replicasim: invalid configuration")

// Failure is an invariant check that failed: which check, after which step
// of which schedule, and why. Run returns it; Shrink returns a shorter
// schedule that fails the same check.
type Failure struct {
	Seed     uint64 // the seed the schedule and the cluster were drawn from
	Step     int    // index in Schedule of the step after which the check failed; len(Schedule) for the final convergence
	Check    string // the check's name (see the package documentation)
	Detail   string // what the check found
	Schedule []Step // the schedule run (Shrink: the shortest one found)
}

// Error describes the failure with the seed, the check and the step.
func (f *Failure) Error() string {
	step := "convergence"
	if f.Step < len(f.Schedule) {
		step = fmt.Sprintf("step %d (%s)", f.Step, f.Schedule[f.Step])
	}
	return fmt.Sprintf("replicasim: seed %d: check %s failed after %s: %s", f.Seed, f.Check, step, f.Detail)
}

// Report returns the failure with its schedule, one step a line, and the
// schedule in the form ParseSteps reads.
func (f *Failure) Report() string {
	var b strings.Builder
	b.WriteString(f.Error())
	fmt.Fprintf(&b, "\nschedule (%d steps):\n", len(f.Schedule))
	for i, s := range f.Schedule {
		mark := "  "
		if i == f.Step {
			mark = "=>"
		}
		fmt.Fprintf(&b, "%s %3d %s\n", mark, i, s)
	}
	fmt.Fprintf(&b, "steps: %s\n", FormatSteps(f.Schedule))
	return b.String()
}
