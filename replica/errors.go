package replica

import (
	"errors"
	"fmt"
)

// Sentinel errors of the replica package, wrapped with %w so errors.Is
// works.
var (
	// ErrInvalidConfig is returned by the Validate methods, NewPrimaryHost,
	// NewReplicaHost and PrimaryHost.Enable for a configuration out of its
	// bounds.
	ErrInvalidConfig = errors.New("replica: invalid configuration")

	// ErrInvalidState is returned (inside a *StateError) by an operation
	// that the relationship's current state does not allow: a Cycle before
	// initial replication, a Resume of a relationship that is not
	// suspended.
	ErrInvalidState = errors.New("replica: operation not allowed in this state")

	// ErrClosed is returned by calls on a PrimaryHost, ReplicaHost or
	// Relationship after Close or Remove.
	ErrClosed = errors.New("replica: closed")

	// ErrUnknownGroup is returned by PrimaryHost.Relationship and Remove
	// for a group id that is not enabled, and (inside a *RemoteError) when
	// the replica does not have the group.
	ErrUnknownGroup = errors.New("replica: unknown group")

	// ErrGroupExists is returned by PrimaryHost.Enable when the group is
	// already enabled on this host, and (inside a *RemoteError) when the
	// replica already holds a group of that id with other volumes or with
	// recovery points.
	ErrGroupExists = errors.New("replica: group already exists")

	// ErrProtocol is returned when a peer sends a message that is
	// malformed, unknown, or out of turn. The connection is closed.
	ErrProtocol = errors.New("replica: protocol violation")

	// ErrVersion is returned by a primary whose replica speaks no protocol
	// version it knows (inside a *RemoteError), and by a replica to such a
	// primary.
	ErrVersion = errors.New("replica: unsupported protocol version")

	// ErrRunning is returned by PrimaryHost.Run and ReplicaHost.Serve when
	// they are already running.
	ErrRunning = errors.New("replica: already running")

	// ErrCycleTimeout is returned by a cycle or initial replication that
	// did not finish within PrimaryConfig.CycleTimeout; its frozen blocks
	// were restored and it is retried like a lost connection.
	ErrCycleTimeout = errors.New("replica: cycle timed out")

	// ErrRemoteInternal is wrapped by a *RemoteError whose code is
	// CodeInternal: the replica failed for a reason of its own (a full
	// disk). It is temporary.
	ErrRemoteInternal = errors.New("replica: replica-side failure")

	// ErrReplicaFailedOver is returned, together with ErrInvalidState, by
	// Cycle, InitialReplication and Resynchronize when the group is failed
	// over on the replica (FailedOverWaitingCompletion or FailedOver): the
	// replica takes no delta from this primary until the failover is
	// cancelled. The relationship keeps its state and Run goes on retrying
	// with back-off, so replication resumes by itself after a
	// CancelFailover; Health says why meanwhile.
	ErrReplicaFailedOver = errors.New("replica: the group is failed over on the replica")

	// ErrSplitBrain is returned when both sides of a relationship act as
	// the group's primary — each wrote past their last common recovery
	// point — so neither may overwrite the other by itself. It is reported
	// on both sides and is never resolved silently: an operator chooses
	// which side wins (see the package documentation, "Split brain").
	ErrSplitBrain = errors.New("replica: split brain: both sides are primary for the group")

	// ErrNoCommonPoint is returned by reverse replication when the two
	// sides share no recovery point (the old primary's last point is not
	// in the new primary's chain, or the group was re-created on one
	// side): only a full copy could reconcile them, which reverse
	// replication never does by itself. Remove the group on the side that
	// is to become the replica and enable replication anew.
	ErrNoCommonPoint = errors.New("replica: the two sides share no recovery point")

	// ErrSeedMissing is returned by an initial replication from a seed or
	// from offline media while the replica does not hold the copy yet
	// (ReplicaHost.Seed or ReplicaHost.Import has not run). It is
	// temporary: the next attempt succeeds once the copy is there.
	ErrSeedMissing = errors.New("replica: the replica does not hold the initial copy yet")

	// ErrAwaitingDemote is returned by the first cycle of a reverse
	// relationship while the old primary's ReplicaHost does not hold the
	// group as a replica yet — its relationship is still prepared for
	// failover, or PrimaryHost.Demote has not run there. It is temporary:
	// Run retries with back-off and the cycle goes through once the old
	// primary has demoted.
	ErrAwaitingDemote = errors.New("replica: the old primary has not demoted yet")
)

// StateError reports a refused state transition. It wraps ErrInvalidState.
type StateError struct {
	Op   string // the operation refused, or "" for a bare transition
	From State  // the state the relationship is in
	To   State  // the state the operation would lead to (StateNone if none)
}

func (e *StateError) Error() string {
	msg := "replica: "
	if e.Op != "" {
		msg += e.Op + ": "
	}
	if e.To == StateNone {
		return msg + fmt.Sprintf("not allowed in state %s", e.From)
	}
	return msg + fmt.Sprintf("transition %s → %s not allowed", e.From, e.To)
}

// Unwrap returns ErrInvalidState.
func (e *StateError) Unwrap() error { return ErrInvalidState }

// RemoteError is a refusal received from the peer: its Nack code and
// message. Unwrap maps the code to the matching sentinel, so
// errors.Is(err, transport.ErrUnauthorized) holds for a refused primary.
type RemoteError struct {
	Code    Code   // why the peer refused
	Message string // the peer's explanation, for logs
}

func (e *RemoteError) Error() string {
	return fmt.Sprintf("replica: peer refused (%s): %s", e.Code, e.Message)
}

// Unwrap returns the sentinel error of the code.
func (e *RemoteError) Unwrap() error { return e.Code.sentinel() }

// Temporary reports whether retrying later may succeed (transport.IsTemporary
// consults it): true for CodeInternal, CodeCorrupt (a delta damaged on
// the way is sent again by the next cycle) and CodeSeedMissing (the copy
// may be imported on the replica meanwhile).
func (e *RemoteError) Temporary() bool {
	return e.Code == CodeInternal || e.Code == CodeCorrupt || e.Code == CodeSeedMissing
}
