package replica

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/blockrep/blockrep/delta"
	"github.com/blockrep/blockrep/transport"
)

// Relationship is the configuration and state of one group replicated by
// a PrimaryHost: its tracker and tracked volumes, its state, its last
// acknowledged recovery point and its statistics. Its methods are safe for
// concurrent use; cycles, initial replication, Suspend and Resume run one
// at a time.
type Relationship struct {
	host  *PrimaryHost
	cfg   GroupConfig
	freq  time.Duration
	log   *slog.Logger
	clock Clock

	tracker  *delta.Tracker
	vols     []Volume           // per configured volume: tracked, or raw when excluded
	infos    []delta.VolumeInfo // included volumes, in group order
	geoms    []delta.Geometry
	included []int // configured index of each included volume

	// op admits one operation at a time (cycle, initial replication,
	// suspend, resume, close); acquiring it respects ctx.
	op chan struct{}

	// Guarded by op: the connection to the replica and its buffer.
	conn transport.Conn
	// connUsed is when conn was last handed out by connect (host clock).
	connUsed time.Time
	buf      []byte

	wantApp atomic.Bool // the next freeze runs the quiesce hook

	pending groupUpdate // changes after Enable not on the replica yet (update_group.go); r.mu

	roles relRoles // write gate and reverse replication (planned_failover_gate.go)

	doubts []delta.PointID // earlier points in doubt while inDoubt is set (in_doubt.go); r.mu

	mu         sync.Mutex
	state      State
	resumeTo   State
	lastPoint  delta.PointID
	lastTime   time.Time // instant of lastPoint
	lastHash   delta.Hash
	inDoubt    delta.PointID // sent, acknowledgement not received
	lastApp    time.Time     // freeze instant of the last app-consistent point
	lastResync ResyncResult  // the last successful resynchronization
	init       initialState  // a Media export awaiting import, a Seed's progress
	stats      statsAcc
	closed     bool
	wake       chan struct{}
	loopCancel context.CancelFunc
	loopDone   chan struct{}
}

// newRelationship builds the relationship and its tracker for cfg (which
// Validate accepted), with tracking state opened by open.
func (p *PrimaryHost) newRelationship(cfg GroupConfig, open func(geoms []delta.Geometry, opts []delta.TrackerOption) (*delta.Tracker, error)) (*Relationship, error) {
	cfg.Volumes = append([]VolumeConfig(nil), cfg.Volumes...)
	cfg.Metadata = append([]byte(nil), cfg.Metadata...)
	cfg.FailoverSettings = append([]byte(nil), cfg.FailoverSettings...)
	if w := cfg.ResyncWindow; w != nil {
		cfg.ResyncWindow = &ResyncWindow{Start: w.Start, End: w.End}
	}
	if cfg.BlockSize == 0 {
		cfg.BlockSize = delta.DefaultBlockSize
	}
	r := &Relationship{
		host:  p,
		cfg:   cfg,
		freq:  cfg.frequency(),
		log:   p.log.With("group", cfg.ID),
		clock: p.cfg.Clock,
		op:    make(chan struct{}, 1),
		wake:  make(chan struct{}, 1),
		vols:  make([]Volume, len(cfg.Volumes)),
	}
	for i, v := range cfg.Volumes {
		if v.Excluded {
			continue
		}
		r.included = append(r.included, i)
		r.infos = append(r.infos, delta.VolumeInfo{ID: v.Name, Size: v.Size})
		r.geoms = append(r.geoms, delta.Geometry{Size: v.Size, BlockSize: cfg.BlockSize})
	}
	opts := []delta.TrackerOption{delta.WithFreezeClock(r.clock.Now)}
	if cfg.Quiesce != nil {
		opts = append(opts, delta.WithQuiesce(r.quiesce))
	}
	t, err := open(r.geoms, opts)
	if err != nil {
		return nil, err
	}
	r.tracker = t
	for i, v := range cfg.Volumes {
		r.vols[i] = v.Volume
	}
	for ti, ci := range r.included {
		tv, err := t.Volume(ti, cfg.Volumes[ci].Volume)
		if err != nil {
			t.Close()
			return nil, err
		}
		r.vols[ci] = &gatedVolume{gate: &r.roles.gate, v: tv}
	}
	r.stats.windowStart = r.clock.Now()
	return r, nil
}

// quiesce is the tracker's hook: the user's hook for app-consistent
// freezes, nothing otherwise.
func (r *Relationship) quiesce(ctx context.Context) (func(), error) {
	if r.wantApp.Load() {
		return r.cfg.Quiesce(ctx)
	}
	return noQuiesce(ctx)
}

// Enable starts replicating a group: it creates the group's tracker and
// tracked volumes, and asks the replica (cfg.Replica) to create the group.
// The relationship starts in InitialReplicationPending; Run starts the
// initial replication when cfg.Initial.At comes, or the caller starts it
// with Relationship.InitialReplication. From Enable on, every write must go
// through Relationship.Volume.
//
// Errors: ErrInvalidConfig, ErrGroupExists (enabled here already, or the
// replica holds the group with points), a *RemoteError for any other
// refusal (errors.Is(err, transport.ErrUnauthorized) for an unauthorized
// primary), or the transport's error. On error nothing is left enabled.
func (p *PrimaryHost) Enable(ctx context.Context, cfg GroupConfig) (*Relationship, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if _, err := p.Relationship(cfg.ID); err == nil {
		return nil, fmt.Errorf("%w: %q is already enabled on this host", ErrGroupExists, cfg.ID)
	}
	r, err := p.newRelationship(cfg, func(geoms []delta.Geometry, opts []delta.TrackerOption) (*delta.Tracker, error) {
		if cfg.TrackerState != nil {
			return delta.CreateTrackerFile(cfg.TrackerState, geoms, opts...)
		}
		return delta.NewTracker(geoms, opts...)
	})
	if err != nil {
		return nil, err
	}
	if err := r.createOnReplica(ctx); err != nil {
		r.closeConn()
		r.tracker.Close()
		return nil, err
	}
	if err := r.transition("enable", InitialReplicationPending); err != nil {
		r.closeConn()
		r.tracker.Close()
		return nil, err
	}
	if err := p.add(r); err != nil {
		r.closeConn()
		r.tracker.Close()
		return nil, err
	}
	r.log.Info("replication enabled", "replica", cfg.Replica, "volumes", len(r.infos), "frequency", r.freq)
	return r, nil
}

// Reattach re-establishes, after a restart of the primary host, a
// relationship that was replicating with last as its last acknowledged
// point (Relationship.LastPoint before the restart). Change tracking is
// reopened from cfg.TrackerState: when it survived, the relationship is
// Replicating and its next cycle sends what was dirty; when the state file
// is missing or unusable (delta.ErrTrackingLost) or the group had no
// persistent tracking, the relationship is ResynchronizationRequired.
// Reattach does not contact the replica; the next cycle does.
func (p *PrimaryHost) Reattach(ctx context.Context, cfg GroupConfig, last delta.PointID) (*Relationship, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if last.IsZero() {
		return nil, fmt.Errorf("%w: group %q: Reattach needs the last acknowledged point (Enable starts anew)", ErrInvalidConfig, cfg.ID)
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	lost := false
	r, err := p.newRelationship(cfg, func(geoms []delta.Geometry, opts []delta.TrackerOption) (*delta.Tracker, error) {
		if cfg.TrackerState == nil {
			lost = true
			return delta.NewTracker(geoms, opts...)
		}
		t, err := delta.OpenTrackerFile(cfg.TrackerState, geoms, opts...)
		if errors.Is(err, delta.ErrTrackingLost) {
			lost = true
			// Track from now on, so that a resynchronization only has to
			// reconcile what it finds, not what is written meanwhile.
			return delta.CreateTrackerFile(cfg.TrackerState, geoms, opts...)
		}
		return t, err
	})
	if err != nil {
		return nil, err
	}
	r.lastPoint = last
	to := Replicating
	if lost {
		to = ResynchronizationRequired
	}
	if err := r.transition("reattach", to); err != nil {
		r.tracker.Close()
		return nil, err
	}
	if err := p.add(r); err != nil {
		r.tracker.Close()
		return nil, err
	}
	r.log.Info("relationship reattached", "state", to, "last_point", last)
	return r, nil
}

// ID returns the group id.
func (r *Relationship) ID() string { return r.cfg.ID }

// Frequency returns the interval between cycles.
func (r *Relationship) Frequency() time.Duration { return r.freq }

// Volumes returns the number of configured volumes (excluded ones too).
func (r *Relationship) Volumes() int { return len(r.vols) }

// Volume returns configured volume i for the host to read and write:
// wrapped so that every write is tracked (and preserved for a cycle in
// flight), or the volume itself when it is excluded. It returns nil for
// an index out of range.
func (r *Relationship) Volume(i int) Volume {
	if i < 0 || i >= len(r.vols) {
		return nil
	}
	return r.vols[i]
}

// State returns the relationship's state.
func (r *Relationship) State() State {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.state
}

// LastPoint returns the last recovery point the replica acknowledged (zero
// before initial replication), its instant and its content hash. A host
// that wants to Reattach after a restart keeps the id.
func (r *Relationship) LastPoint() (id delta.PointID, at time.Time, hash delta.Hash) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.lastPoint, r.lastTime, r.lastHash
}

// Metadata returns a copy of the group's metadata blob.
func (r *Relationship) Metadata() []byte {
	r.mu.Lock() // SetMetadata changes it
	defer r.mu.Unlock()
	return append([]byte(nil), r.cfg.Metadata...)
}

// FailoverSettings returns a copy of the group's failover settings.
func (r *Relationship) FailoverSettings() []byte {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]byte(nil), r.cfg.FailoverSettings...)
}

// transition moves the state through the table, or returns a *StateError.
func (r *Relationship) transition(op string, to State) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.transitionLocked(op, to)
}

func (r *Relationship) transitionLocked(op string, to State) error {
	if err := checkTransition(RolePrimary, op, r.state, to); err != nil {
		return err
	}
	if r.state != to {
		r.log.Info("state changed", "from", r.state, "to", to, "op", op)
	}
	r.state = to
	r.notify()
	return nil
}

// notify wakes the relationship's schedule.
func (r *Relationship) notify() {
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

// acquire takes the operation slot.
func (r *Relationship) acquire(ctx context.Context) error {
	select {
	case r.op <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	}
	r.mu.Lock()
	closed := r.closed
	r.mu.Unlock()
	if closed {
		<-r.op
		return ErrClosed
	}
	return nil
}

func (r *Relationship) release() { <-r.op }

// acquireScheduled takes the operation slot for work Run started, and
// reports false (holding nothing) when it cannot or when ctx is done: the
// select in acquire may pick the free slot over a ctx that ended already.
func (r *Relationship) acquireScheduled(ctx context.Context) bool {
	if err := r.acquire(ctx); err != nil {
		return false
	}
	if ctx.Err() != nil {
		r.release()
		return false
	}
	return true
}

// Suspend pauses replication: no cycle runs until Resume; writes are
// still tracked. It waits for a cycle in flight to end. It returns a
// *StateError unless the relationship is Replicating or
// InitialReplicationPending.
func (r *Relationship) Suspend(ctx context.Context) error {
	if err := r.acquire(ctx); err != nil {
		return err
	}
	defer r.release()
	r.mu.Lock()
	defer r.mu.Unlock()
	from := r.state
	if err := r.transitionLocked("suspend", Suspended); err != nil {
		return err
	}
	r.resumeTo = from
	return nil
}

// Resume ends a suspension: the relationship goes back to the state it was
// suspended in, and its schedule starts a new frequency period. It returns
// a *StateError unless the relationship is Suspended.
func (r *Relationship) Resume(ctx context.Context) error {
	if err := r.acquire(ctx); err != nil {
		return err
	}
	defer r.release()
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.state != Suspended {
		return &StateError{Op: "resume", From: r.state, To: r.resumeTo}
	}
	return r.transitionLocked("resume", r.resumeTo)
}

// Stats returns the relationship's statistics.
func (r *Relationship) Stats() Stats {
	pending := r.tracker.Pending().Bytes
	r.mu.Lock()
	defer r.mu.Unlock()
	s := r.stats
	st := Stats{
		State:               r.state,
		WindowStart:         s.windowStart,
		LastReplication:     s.lastSuccess,
		PendingBytes:        pending,
		MaximumDeltaBytes:   s.deltaMax,
		MaximumLatency:      s.latencyMax,
		Errors:              s.errors,
		SuccessfulCycles:    s.successes,
		MissedCycles:        s.missed,
		InitialBytesDone:    s.initialDone,
		InitialBytesTotal:   s.initialTotal,
		ConsecutiveFailures: s.failures,
	}
	if !r.lastPoint.IsZero() {
		st.LastPoint = r.lastPoint.String()
	}
	if s.successes > 0 {
		st.AverageDeltaBytes = s.deltaTotal / s.successes
		st.AverageLatency = s.latencyTotal / time.Duration(s.successes)
	}
	if s.lastErr != nil {
		st.LastError = s.lastErr.Error()
	}
	return st
}

// ResetStats clears the counters and starts a new monitoring window now.
// The time of the last replication is kept.
func (r *Relationship) ResetStats() {
	now := r.clock.Now()
	r.mu.Lock()
	defer r.mu.Unlock()
	r.stats.reset(now)
}

// Health returns the relationship's health at the clock's current time.
func (r *Relationship) Health() Health {
	now := r.clock.Now()
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.stats.health(r.state, now)
}

func (r *Relationship) setLoop(cancel context.CancelFunc, done chan struct{}) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.loopCancel, r.loopDone = cancel, done
}

// close stops the schedule, waits for the operation in flight, and ends
// tracking. Idempotent.
func (r *Relationship) close(ctx context.Context) error {
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return nil
	}
	cancel, done := r.loopCancel, r.loopDone
	r.mu.Unlock()
	if cancel != nil {
		cancel()
		<-done
	}
	// Wait for a manual operation in flight; ctx bounds the wait.
	select {
	case r.op <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	}
	r.mu.Lock()
	r.closed = true
	r.mu.Unlock()
	r.closeConn()
	err := r.tracker.Close()
	<-r.op
	r.log.Info("relationship removed")
	return err
}

// closeConn drops the connection to the replica. The op slot is held (or
// the relationship is not shared yet).
func (r *Relationship) closeConn() {
	if r.conn != nil {
		r.conn.Close()
		r.conn = nil
	}
}
