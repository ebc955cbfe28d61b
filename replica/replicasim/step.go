package replicasim

import (
	"fmt"
	"strconv"
	"strings"
)

// Op is the kind of one step of a schedule.
type Op uint8

// The operations a schedule is made of. Each step carries its own Arg, from
// which the operation draws its parameters (offsets, sizes, fault
// probabilities, crash points, the point to fail over to), so that a step
// means the same whichever steps are dropped around it while shrinking.
const (
	// OpWrite writes random bytes at a random offset of a random volume.
	OpWrite Op = iota
	// OpBurst writes a burst of 2 to 9 random writes.
	OpBurst
	// OpOverwrite writes the same block several times over.
	OpOverwrite
	// OpCycle runs the next replication attempt the relationship's state
	// calls for: initial replication, a cycle, or a resynchronization.
	OpCycle
	// OpCycleWriting runs a cycle while another goroutine writes.
	OpCycleWriting
	// OpAdvance moves the fake clock forward (1 s to 30 min).
	OpAdvance
	// OpPartition cuts the network between primary and replica.
	OpPartition
	// OpHeal lifts every partition.
	OpHeal
	// OpCut cuts connections after a random number of bytes.
	OpCut
	// OpDuplicate duplicates frames with some probability.
	OpDuplicate
	// OpCorrupt flips a bit in frames with some probability.
	OpCorrupt
	// OpDelay delays every frame.
	OpDelay
	// OpClearFaults removes the frame faults.
	OpClearFaults
	// OpCrashReplica crashes the replica's filesystem at a random operation
	// of the next attempt (or at once), then restarts the replica host on
	// what survived.
	OpCrashReplica
	// OpCrashPrimary crashes the primary's filesystem (the tracker state
	// file) at a random later operation; the primary host restarts and
	// reattaches once it happened.
	OpCrashPrimary
	// OpSuspend suspends the relationship.
	OpSuspend
	// OpResume resumes it.
	OpResume
	// OpTestFailover starts a test failover on a random point and writes to
	// its volumes.
	OpTestFailover
	// OpStopTestFailover stops it.
	OpStopTestFailover
	// OpFailover starts an unplanned failover to a random point and writes
	// to its volumes.
	OpFailover
	// OpCancelFailover cancels it.
	OpCancelFailover
	// OpCompleteFailover completes it; the primary then protects the
	// volumes anew as a new group.
	OpCompleteFailover
	// OpResync asks for a resynchronization.
	OpResync
	// OpPrune prunes the replica's chain by its retention.
	OpPrune
	// OpExtend makes the replica forward the group to the extended replica.
	OpExtend
	// OpForward runs one forward now.
	OpForward
	// OpCrashExtended crashes the extended replica's filesystem and
	// restarts it.
	OpCrashExtended
	// OpPartitionExtended cuts the network between replica and extended
	// replica.
	OpPartitionExtended
	// OpPlannedRound runs a planned failover under the faults in force; then,
	// with the network healed, demotes the primary, reverses replication
	// from the replica, writes and cycles there, and protects the volumes
	// anew with the reversed side's image.
	OpPlannedRound

	numOps
)

var opNames = [numOps]string{
	OpWrite:             "write",
	OpBurst:             "burst",
	OpOverwrite:         "overwrite",
	OpCycle:             "cycle",
	OpCycleWriting:      "cycle-writing",
	OpAdvance:           "advance",
	OpPartition:         "partition",
	OpHeal:              "heal",
	OpCut:               "cut",
	OpDuplicate:         "duplicate",
	OpCorrupt:           "corrupt",
	OpDelay:             "delay",
	OpClearFaults:       "clear-faults",
	OpCrashReplica:      "crash-replica",
	OpCrashPrimary:      "crash-primary",
	OpSuspend:           "suspend",
	OpResume:            "resume",
	OpTestFailover:      "test-failover",
	OpStopTestFailover:  "stop-test-failover",
	OpFailover:          "failover",
	OpCancelFailover:    "cancel-failover",
	OpCompleteFailover:  "complete-failover",
	OpResync:            "resync",
	OpPrune:             "prune",
	OpExtend:            "extend",
	OpForward:           "forward",
	OpCrashExtended:     "crash-extended",
	OpPartitionExtended: "partition-extended",
	OpPlannedRound:      "planned-round",
}

// String returns the operation's name.
func (o Op) String() string {
	if o < numOps {
		return opNames[o]
	}
	return "op(" + strconv.Itoa(int(o)) + ")"
}

// Step is one operation of a schedule with the argument it draws its
// parameters from.
type Step struct {
	Op  Op
	Arg uint64
}

// String returns the step as "name:arg" (arg in hex), the form ParseSteps
// reads.
func (s Step) String() string { return s.Op.String() + ":" + strconv.FormatUint(s.Arg, 16) }

// FormatSteps returns steps as ParseSteps reads them: comma-separated.
func FormatSteps(steps []Step) string {
	parts := make([]string, len(steps))
	for i, s := range steps {
		parts[i] = s.String()
	}
	return strings.Join(parts, ",")
}

// ParseSteps reads a schedule written by FormatSteps.
func ParseSteps(s string) ([]Step, error) {
	var steps []Step
	for part := range strings.SplitSeq(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		name, arg, ok := strings.Cut(part, ":")
		if !ok {
			return nil, fmt.Errorf("%w: step %q has no argument", ErrSchedule, part)
		}
		op := numOps
		for i, n := range opNames {
			if n == name {
				op = Op(i)
				break
			}
		}
		if op == numOps {
			return nil, fmt.Errorf("%w: unknown operation %q", ErrSchedule, name)
		}
		v, err := strconv.ParseUint(arg, 16, 64)
		if err != nil {
			return nil, fmt.Errorf("%w: step %q: %v", ErrSchedule, part, err)
		}
		steps = append(steps, Step{Op: op, Arg: v})
	}
	return steps, nil
}
