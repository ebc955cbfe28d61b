package replica

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/blockrep/blockrep/transport"
)

// defaultBackoff is the wait before each retry after 1, 2, 3 and 4
// consecutive failures; DefaultRetryInterval follows.
var defaultBackoff = [...]time.Duration{time.Minute, 2 * time.Minute, 4 * time.Minute, 8 * time.Minute}

// DefaultRetryInterval is the wait between attempts once the back-off
// steps are used up, when PrimaryConfig.RetryInterval is zero.
const DefaultRetryInterval = 15 * time.Minute

// PrimaryConfig configures a PrimaryHost.
type PrimaryConfig struct {
	// Transport dials the replicas. Required.
	Transport transport.Transport

	// Clock schedules cycles and back-off and stamps recovery points; nil
	// means RealClock.
	Clock Clock

	// Logger receives the host's logs; nil discards them.
	Logger *slog.Logger

	// Rand is the source of recovery point ids; nil means crypto/rand.
	// Tests pass a seeded reader for reproducible ids.
	Rand io.Reader

	// Backoff is the wait before each retry after consecutive failures
	// (nil means 1, 2, 4 and 8 minutes); RetryInterval (0 means
	// DefaultRetryInterval) is the wait once the steps are used up.
	Backoff       []time.Duration
	RetryInterval time.Duration

	// CycleTimeout, when positive, bounds a cycle or initial replication
	// on the host's clock, from the freeze to the acknowledgement: a replica
	// that stops answering fails the cycle with ErrCycleTimeout instead of
	// holding it forever. Zero means no bound (a transport with keepalives
	// notices dead peers by itself).
	CycleTimeout time.Duration

	// ChunkSize is the largest frame deltas are cut into (0 means
	// transport.DefaultChunkSize). A delta of less than 16 such frames
	// travels in frames of a sixteenth of its raw size, at least 64 KiB,
	// so that the replica verifies and stages it while the primary is
	// still encoding it.
	ChunkSize int

	// MaxIdle is how long, on the host's clock, a connection to a replica
	// may sit unused between cycles before the next cycle closes it and
	// dials anew instead of reusing it (0 means DefaultMaxIdle; negative
	// keeps connections however long idle). Transports and middleboxes
	// drop idle connections (transport/tcp after its IdleTimeout), and a
	// cycle sent into a dropped connection fails and waits for its retry.
	MaxIdle time.Duration

	// OnCycle, when set, is called after every cycle or initial
	// replication attempt, scheduled or not, once its outcome is recorded
	// in the relationship's statistics. It runs on the cycle's goroutine
	// and must return quickly.
	OnCycle func(CycleEvent)
}

// CycleEvent reports one finished attempt.
type CycleEvent struct {
	Group   string
	Initial bool // an initial replication, not a cycle
	Resync  bool // a resynchronization, not a cycle
	Export  bool // a Media export: the point is not on the replica yet
	Result  CycleResult
	Err     error
}

// Validate reports a missing or out-of-range field, wrapping
// ErrInvalidConfig.
func (c *PrimaryConfig) Validate() error {
	switch {
	case c.Transport == nil:
		return fmt.Errorf("%w: PrimaryConfig.Transport is nil", ErrInvalidConfig)
	case c.CycleTimeout < 0:
		return fmt.Errorf("%w: PrimaryConfig.CycleTimeout %s is negative", ErrInvalidConfig, c.CycleTimeout)
	case c.RetryInterval < 0:
		return fmt.Errorf("%w: PrimaryConfig.RetryInterval %s is negative", ErrInvalidConfig, c.RetryInterval)
	case c.ChunkSize < 0 || c.ChunkSize > transport.MaxFrameSize:
		return fmt.Errorf("%w: PrimaryConfig.ChunkSize %d outside 0..%d", ErrInvalidConfig, c.ChunkSize, transport.MaxFrameSize)
	}
	for i, d := range c.Backoff {
		if d <= 0 {
			return fmt.Errorf("%w: PrimaryConfig.Backoff[%d] = %s is not positive", ErrInvalidConfig, i, d)
		}
	}
	return nil
}

// PrimaryHost is the primary side: it owns the relationships of the
// groups it replicates, tracks their writes, and runs their cycles.
type PrimaryHost struct {
	cfg PrimaryConfig
	log *slog.Logger

	mu      sync.Mutex
	rels    map[string]*Relationship
	closed  bool
	running bool
	runCtx  context.Context
	stop    context.CancelFunc
	loops   sync.WaitGroup
}

// DefaultMaxIdle is PrimaryConfig.MaxIdle's default: below transport/tcp's
// default idle timeout of 2 minutes, so a 5- or 15-minute cycle dials anew.
const DefaultMaxIdle = time.Minute

// NewPrimaryHost returns a host with no relationship.
func NewPrimaryHost(cfg PrimaryConfig) (*PrimaryHost, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.Clock == nil {
		cfg.Clock = RealClock{}
	}
	if cfg.Backoff == nil {
		cfg.Backoff = defaultBackoff[:]
	}
	cfg.Backoff = slices.Clone(cfg.Backoff)
	if cfg.RetryInterval == 0 {
		cfg.RetryInterval = DefaultRetryInterval
	}
	if cfg.ChunkSize == 0 {
		cfg.ChunkSize = transport.DefaultChunkSize
	}
	if cfg.MaxIdle == 0 {
		cfg.MaxIdle = DefaultMaxIdle
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &PrimaryHost{cfg: cfg, log: log, rels: make(map[string]*Relationship)}, nil
}

// backoff returns the wait after the n-th consecutive failure (n ≥ 1).
func (p *PrimaryHost) backoff(n int) time.Duration {
	if n >= 1 && n <= len(p.cfg.Backoff) {
		return p.cfg.Backoff[n-1]
	}
	return p.cfg.RetryInterval
}

// Relationship returns the relationship of group id, or an error wrapping
// ErrUnknownGroup.
func (p *PrimaryHost) Relationship(id string) (*Relationship, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	r, ok := p.rels[id]
	if !ok {
		return nil, fmt.Errorf("%w: %q is not enabled on this host", ErrUnknownGroup, id)
	}
	return r, nil
}

// Relationships returns the ids of the enabled groups, sorted.
func (p *PrimaryHost) Relationships() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	ids := make([]string, 0, len(p.rels))
	for id := range p.rels {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids
}

// add registers r, starting its schedule when Run is running.
func (p *PrimaryHost) add(r *Relationship) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return ErrClosed
	}
	if _, ok := p.rels[r.cfg.ID]; ok {
		return fmt.Errorf("%w: %q is already enabled on this host", ErrGroupExists, r.cfg.ID)
	}
	p.rels[r.cfg.ID] = r
	if p.running {
		p.startLoopLocked(r)
	}
	return nil
}

// Run runs every relationship's schedule — initial replication when due,
// then a cycle each Frequency, retries with back-off — on the host's clock
// until ctx is done or Close is called. Relationships enabled meanwhile
// join. It returns nil once every schedule stopped (a cycle in flight is
// cancelled and its frozen blocks restored); ErrRunning if Run is already
// running, ErrClosed after Close.
func (p *PrimaryHost) Run(ctx context.Context) error {
	p.mu.Lock()
	switch {
	case p.closed:
		p.mu.Unlock()
		return ErrClosed
	case p.running:
		p.mu.Unlock()
		return ErrRunning
	}
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	p.running, p.runCtx, p.stop = true, runCtx, cancel
	for _, r := range p.rels {
		p.startLoopLocked(r)
	}
	p.mu.Unlock()

	<-runCtx.Done()

	p.mu.Lock()
	p.running, p.runCtx, p.stop = false, nil, nil
	p.mu.Unlock()
	p.loops.Wait()
	return nil
}

func (p *PrimaryHost) startLoopLocked(r *Relationship) {
	ctx, cancel := context.WithCancel(p.runCtx)
	done := make(chan struct{})
	r.setLoop(cancel, done)
	p.loops.Add(1)
	go func() {
		defer p.loops.Done()
		defer close(done)
		defer cancel()
		r.loop(ctx)
	}()
}

// Remove ends the relationship of group id on this host: its schedule
// stops (a cycle in flight is cancelled), tracking ends and the
// relationship's calls return ErrClosed afterwards. The replica keeps the
// group and its recovery points.
func (p *PrimaryHost) Remove(ctx context.Context, id string) error {
	p.mu.Lock()
	r, ok := p.rels[id]
	if ok {
		delete(p.rels, id)
	}
	p.mu.Unlock()
	if !ok {
		return fmt.Errorf("%w: %q is not enabled on this host", ErrUnknownGroup, id)
	}
	return r.close(ctx)
}

// Close stops Run, then closes every relationship (as Remove does, without
// forgetting them on the replica). It is idempotent; later calls return
// ErrClosed.
func (p *PrimaryHost) Close() error {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil
	}
	p.closed = true
	if p.stop != nil {
		p.stop()
	}
	rels := make([]*Relationship, 0, len(p.rels))
	for _, r := range p.rels {
		rels = append(rels, r)
	}
	clear(p.rels)
	p.mu.Unlock()
	p.loops.Wait()
	var first error
	for _, r := range rels {
		if err := r.close(context.Background()); err != nil && first == nil {
			first = err
		}
	}
	return first
}
