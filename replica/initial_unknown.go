package replica

import (
	"errors"
	"fmt"

	"github.com/blockrep/blockrep/delta"
)

// ErrReplicaNotEmpty is returned by InitialReplication when the replica
// already holds recovery points of the group that this primary did not
// send (the group outlived an earlier relationship there), so a full copy
// from no base cannot apply. The relationship stays
// InitialReplicationPending. Either remove the group from the replica's
// store, or reattach the relationship (PrimaryHost.Reattach without
// tracking state makes it ResynchronizationRequired) so that
// Resynchronize compares with the replica's latest point and sends only
// the blocks that differ.
var ErrReplicaNotEmpty = errors.New("replica: the replica holds recovery points of the group this primary did not send")

// initialBaseLocked is the base of a full copy when the replica's latest
// point is neither the last acknowledged nor one in doubt: none when the
// replica holds no point (a Resynchronize that found none falls back to
// InitialReplicationPending with its last point kept), else
// ErrReplicaNotEmpty — never errUnknownReplicaPoint, which would make a
// relationship that never replicated ResynchronizationRequired with
// nothing to resynchronize against. Callers hold r.mu.
func (r *Relationship) initialBaseLocked(st *statusMsg) (delta.PointID, error) {
	if st.Latest.IsZero() {
		return delta.PointID{}, nil
	}
	return delta.PointID{}, fmt.Errorf("%w: group %q, replica at %s (%d points), last acknowledged %s",
		ErrReplicaNotEmpty, r.cfg.ID, st.Latest, st.Points, r.lastPoint)
}

// resyncRefusal returns the *StateError of a Resynchronize asked for in
// state st before the relationship completed an initial replication (it
// was suspended while InitialReplicationPending): there is no replicated
// content to compare with; Resume, then InitialReplication, is the way on.
func (r *Relationship) resyncRefusal(st State) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if st == Suspended && r.state == Suspended && r.resumeTo == InitialReplicationPending {
		return &StateError{Op: "resynchronize before the initial replication", From: st, To: Resynchronizing}
	}
	return nil
}
