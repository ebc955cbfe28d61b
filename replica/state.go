package replica

import (
	"fmt"
)

// State is the replication state of a relationship, named as Hyper-V
// Replica users know them. A primary relationship and a replica group have
// separate sets of states (see the Role tables in transitions).
type State uint8

// The states. StateNone is the zero value: no state (a relationship being
// created, or "no target" in a StateError).
const (
	StateNone State = iota

	// Primary side.

	// InitialReplicationPending: enabled, the first full copy not yet
	// started (it may be scheduled for later).
	InitialReplicationPending
	// InitialReplicationInProgress: the first full copy is being sent.
	InitialReplicationInProgress
	// Replicating: cycles run at the relationship's frequency. Also the
	// normal state of a group on a replica.
	Replicating
	// Suspended: cycles are paused; writes are still tracked.
	Suspended
	// ResynchronizationRequired: the set of changed blocks is unknown
	// (tracking lost) or the replica is at a point the primary does not
	// know; only a resynchronization brings the sides together again.
	ResynchronizationRequired
	// Resynchronizing: a resynchronization is comparing and sending blocks.
	Resynchronizing
	// PreparedForFailover: a planned failover stopped writes and sent the
	// last delta; the replica may be promoted.
	PreparedForFailover

	// Replica side.

	// TestFailoverRunning: a throw-away copy of a point is in use while
	// replication goes on.
	TestFailoverRunning
	// FailedOverWaitingCompletion: an unplanned failover chose a point; it
	// can still be cancelled.
	FailedOverWaitingCompletion
	// FailedOver: the failover was completed; the replica is the new
	// primary's source of truth.
	FailedOver

	stateCount
)

var stateNames = [stateCount]string{
	StateNone:                    "None",
	InitialReplicationPending:    "InitialReplicationPending",
	InitialReplicationInProgress: "InitialReplicationInProgress",
	Replicating:                  "Replicating",
	Suspended:                    "Suspended",
	ResynchronizationRequired:    "ResynchronizationRequired",
	Resynchronizing:              "Resynchronizing",
	PreparedForFailover:          "PreparedForFailover",
	TestFailoverRunning:          "TestFailoverRunning",
	FailedOverWaitingCompletion:  "FailedOverWaitingCompletion",
	FailedOver:                   "FailedOver",
}

// String returns the state's name, e.g. "Replicating".
func (s State) String() string {
	if s < stateCount {
		return stateNames[s]
	}
	return fmt.Sprintf("State(%d)", uint8(s))
}

// MarshalText implements encoding.TextMarshaler: the state's name.
func (s State) MarshalText() ([]byte, error) {
	if s >= stateCount {
		return nil, fmt.Errorf("%w: unknown state %d", ErrInvalidState, uint8(s))
	}
	return []byte(stateNames[s]), nil
}

// UnmarshalText implements encoding.TextUnmarshaler, accepting the names
// String returns.
func (s *State) UnmarshalText(b []byte) error {
	for i, n := range stateNames {
		if n == string(b) {
			*s = State(i)
			return nil
		}
	}
	return fmt.Errorf("%w: unknown state %q", ErrInvalidState, b)
}

// Role says which side of a relationship a host plays.
type Role uint8

// The roles.
const (
	RolePrimary Role = iota + 1
	RoleReplica
)

// String returns "primary" or "replica".
func (r Role) String() string {
	switch r {
	case RolePrimary:
		return "primary"
	case RoleReplica:
		return "replica"
	}
	return fmt.Sprintf("Role(%d)", uint8(r))
}

// transitions is the one place that says which state changes are legal,
// per role. Operations of later parts (failovers, resync) add their moves
// here, not in their own code.
var transitions = map[Role]map[State][]State{
	RolePrimary: {
		StateNone:                    {InitialReplicationPending, Replicating, ResynchronizationRequired, InitialReplicationInProgress}, // Enable; Reattach; ReattachExported
		InitialReplicationPending:    {InitialReplicationInProgress, Suspended},
		InitialReplicationInProgress: {Replicating, InitialReplicationPending, ResynchronizationRequired},
		Replicating:                  {Suspended, ResynchronizationRequired, PreparedForFailover},
		Suspended:                    {Replicating, InitialReplicationPending, ResynchronizationRequired},
		ResynchronizationRequired:    {Resynchronizing, Suspended},
		Resynchronizing:              {Replicating, ResynchronizationRequired, InitialReplicationPending},
		PreparedForFailover:          {Replicating}, // the promotion failed; Demote removes the relationship
	},
	RoleReplica: {
		StateNone:                   {Replicating},
		Replicating:                 {TestFailoverRunning, FailedOverWaitingCompletion, FailedOver},
		TestFailoverRunning:         {Replicating}, // stop the test failover before failing over
		FailedOverWaitingCompletion: {Replicating, FailedOver},
		FailedOver:                  {Replicating}, // reached by Complete or a promotion; left by DiscardFailover, failback
	},
}

// CanTransition reports whether a relationship of role may move from one
// state to the other.
func CanTransition(role Role, from, to State) bool {
	for _, s := range transitions[role][from] {
		if s == to {
			return true
		}
	}
	return false
}

// checkTransition returns nil when the move is legal, else a *StateError.
func checkTransition(role Role, op string, from, to State) error {
	if CanTransition(role, from, to) {
		return nil
	}
	return &StateError{Op: op, From: from, To: to}
}
