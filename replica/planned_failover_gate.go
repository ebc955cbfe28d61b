package replica

import (
	"sync"
	"sync/atomic"
)

// relRoles is what a relationship keeps for planned failover and reverse
// replication: the gate its writes pass, and, for a reverse relationship,
// the replica host's group it writes through and the synchronization its
// first cycle owes.
type relRoles struct {
	gate writeGate

	// replicaState is the replica's state when its status last said the
	// group is failed over there (a State), for splitBrainOf.
	replicaState atomic.Uint32

	mu      sync.Mutex
	side    *reverseSide    // set by Reverse: the clone the volumes write through
	pending *reversePending // set by Reverse until the first cycle synchronized
}

// writeGate stops a relationship's writes: a planned failover or a Demote
// closes it once the writes in flight are done, and every later write is
// refused until it opens again (when the operation failed).
type writeGate struct {
	mu     sync.RWMutex
	closed bool
}

// close waits for the writes in flight, then refuses new ones.
func (g *writeGate) close() {
	g.mu.Lock()
	g.closed = true
	g.mu.Unlock()
}

// open lets writes through again.
func (g *writeGate) open() {
	g.mu.Lock()
	g.closed = false
	g.mu.Unlock()
}

// isClosed reports whether writes are refused.
func (g *writeGate) isClosed() bool {
	g.mu.RLock()
	defer g.mu.RUnlock()
	return g.closed
}

// gatedVolume is a relationship's tracked volume behind its write gate.
type gatedVolume struct {
	gate *writeGate
	v    interface {
		Volume
		Size() int64
	}
}

func (v *gatedVolume) ReadAt(p []byte, off int64) (int, error) { return v.v.ReadAt(p, off) }

// WriteAt writes through the tracker unless the gate is closed, when it
// returns ErrPreparedForFailover and writes nothing.
func (v *gatedVolume) WriteAt(p []byte, off int64) (int, error) {
	v.gate.mu.RLock()
	defer v.gate.mu.RUnlock()
	if v.gate.closed {
		return 0, ErrPreparedForFailover
	}
	return v.v.WriteAt(p, off)
}

// Size returns the volume's size in bytes.
func (v *gatedVolume) Size() int64 { return v.v.Size() }
