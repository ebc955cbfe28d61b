package replica

import (
	"context"
	"errors"
	"sync"

	"github.com/blockrep/blockrep/delta"
)

// seedLocked runs a Seed initial replication: the resynchronization
// machinery (resync.go) against the seed point the replica holds, so only
// the blocks whose hashes differ cross the wire. No point on the replica
// is ErrSeedMissing (temporary; the relationship is
// InitialReplicationPending again and Run retries with back-off).
func (r *Relationship) seedLocked(ctx context.Context) (CycleResult, error) {
	if err := r.transition("initial replication from a seed", InitialReplicationInProgress); err != nil {
		return CycleResult{}, err
	}
	var total int64
	for _, g := range r.geoms {
		total += g.Size
	}
	r.init.progress = &seedProgress{hashTotal: total, hashed: make([]int64, len(r.geoms)), report: r.initialProgress}
	start := r.clock.Now()
	rs, err := r.resync(ctx)
	r.init.progress = nil
	if errors.Is(err, ErrNoReplicaPoint) {
		err = &initialWaitError{mode: Seed, group: r.cfg.ID}
	}
	var res CycleResult
	if err != nil {
		r.closeConn()
		if r.State() == InitialReplicationInProgress {
			r.transition("initial replication from a seed failed", InitialReplicationPending)
		}
	} else {
		rs.Latency = r.clock.Now().Sub(start)
		r.mu.Lock()
		r.lastResync = rs
		r.mu.Unlock()
		res = CycleResult{Point: rs.Point, Base: rs.Base, Time: rs.Time, Blocks: rs.Blocks, StreamBytes: rs.StreamBytes, Latency: rs.Latency, Hash: rs.Hash}
		r.transition("initial replication from a seed done", Replicating)
	}
	r.finish(ctx, true, res, err)
	if err != nil {
		return CycleResult{}, err
	}
	return res, nil
}

// seedProgress turns the two phases of a Seed initial replication into
// one progress: first the bytes of every volume hashed, out of their
// total; then, once the comparison knows them, the bytes of the differing
// blocks sent, added to both.
type seedProgress struct {
	mu        sync.Mutex
	hashTotal int64
	hashed    []int64 // per volume
	report    func(done, total int64)
}

func (p *seedProgress) hashedVolume(ti int, done int64) {
	p.mu.Lock()
	p.hashed[ti] = done
	var sum int64
	for _, n := range p.hashed {
		sum += n
	}
	p.mu.Unlock()
	p.report(sum, p.hashTotal)
}

func (p *seedProgress) sent(done, total int64) {
	p.report(p.hashTotal+done, p.hashTotal+total)
}

// seedHashOpts returns the options of resync's hash pass over volume ti:
// progress reporting during a Seed initial replication, none otherwise.
func (r *Relationship) seedHashOpts(ti int) []delta.HashOption {
	p := r.init.progress
	if p == nil {
		return nil
	}
	return []delta.HashOption{delta.WithHashProgress(func(done, _ int64) { p.hashedVolume(ti, done) })}
}

// seedEncodeOpts returns the encoder options of resync's delta: progress
// reporting during a Seed initial replication, none otherwise.
func (r *Relationship) seedEncodeOpts() []delta.EncoderOption {
	p := r.init.progress
	if p == nil {
		return nil
	}
	return []delta.EncoderOption{delta.WithProgress(p.sent)}
}
