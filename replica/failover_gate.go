package replica

// failoverTable records, per group, the failover and test failover in
// progress on a replica host and the deltas being applied. It is guarded
// by ReplicaHost.mu together with the states map, so that checking a
// group's state and starting an apply are one step: a failover that claims
// the group refuses every later delta and waits for the ones in flight.
type failoverTable struct {
	failovers map[string]*Failover
	tests     map[string]*TestFailover
	applying  map[string]int
	idle      map[string]chan struct{} // closed when applying[id] drops to 0
}

// stateLocked is the replica-side state of group id; h.mu is held.
func (h *ReplicaHost) stateLocked(id string) State {
	if s, ok := h.states[id]; ok {
		return s
	}
	return Replicating
}

// setStateLocked moves group id through the replica's transition table;
// h.mu is held.
func (h *ReplicaHost) setStateLocked(op, id string, to State) error {
	from := h.stateLocked(id)
	if err := checkTransition(RoleReplica, op, from, to); err != nil {
		return err
	}
	h.forceStateLocked(id, to)
	if from != to {
		h.log.Info("state changed", "group", id, "from", from, "to", to, "op", op)
	}
	return nil
}

// forceStateLocked sets the state without the table: only to undo a move
// the table allowed a moment before, when the operation behind it failed.
func (h *ReplicaHost) forceStateLocked(id string, to State) {
	if to == Replicating {
		delete(h.states, id)
		return
	}
	h.states[id] = to
}

// beginApply admits a delta for group id when its state allows applying
// (Replicating, or TestFailoverRunning alongside it); it returns a
// *StateError otherwise, which the session answers with CodeStateConflict.
// done must be called when the apply has ended.
func (h *ReplicaHost) beginApply(id string) (done func(), err error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if st := h.stateLocked(id); st != Replicating && st != TestFailoverRunning {
		return nil, &StateError{Op: "apply delta", From: st}
	}
	t := &h.fo
	if t.applying == nil {
		t.applying, t.idle = make(map[string]int), make(map[string]chan struct{})
	}
	if t.applying[id] == 0 {
		t.idle[id] = make(chan struct{})
	}
	t.applying[id]++
	return func() {
		h.mu.Lock()
		defer h.mu.Unlock()
		t.applying[id]--
		if t.applying[id] == 0 {
			close(t.idle[id])
			delete(t.applying, id)
			delete(t.idle, id)
		}
	}, nil
}

// idleLocked returns a channel closed once no delta of group id is being
// applied (nil when none is); h.mu is held.
func (h *ReplicaHost) idleLocked(id string) <-chan struct{} {
	if c, ok := h.fo.idle[id]; ok {
		return c
	}
	return nil
}
