package replica

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/blockrep/blockrep/checkpoint"
	"github.com/blockrep/blockrep/delta"
	"github.com/blockrep/blockrep/transport"
)

// DefaultMaxConnections bounds the connections a ReplicaHost serves at
// once when ReplicaConfig.MaxConnections is zero.
const DefaultMaxConnections = 64

// ReplicaConfig configures a ReplicaHost.
type ReplicaConfig struct {
	// Listener is where primaries connect. Required. The host accepts
	// from it in Serve and does not close it.
	Listener transport.Listener

	// Store keeps the groups' recovery points. Required. A group lands in
	// it when its authorization entry's Storage is "" or ".".
	Store checkpoint.Store

	// Stores are the other storage locations, by the name an
	// authorization entry's Storage gives (transport.AuthEntry): a group
	// is created in the store its entry names and found there afterwards.
	// A group id is unique across all stores. Optional; the names "" and
	// "." are Store's and may not be keys here.
	Stores map[string]checkpoint.Store

	// Authorizer decides which primary may replicate which group; it is
	// consulted with the connection's authenticated peer on every request.
	// Required.
	Authorizer *transport.Authorizer

	// Clock stamps ReplicaGroup.LastContact; nil means RealClock. (The
	// store stamps recovery points with its own clock: checkpoint.WithClock.)
	Clock Clock

	// Logger receives the host's logs; nil discards them.
	Logger *slog.Logger

	// MaxConnections bounds the connections served at once (0 means
	// DefaultMaxConnections); a connection beyond it is closed at once.
	MaxConnections int

	// Primary is the primary host of the same process, if any. A reverse
	// replication that reaches this host for a group Primary still has a
	// relationship of (it never demoted, and may have written) is refused
	// as a split brain.
	Primary *PrimaryHost

	// OnPromoted, when set, is called once a planned failover promoted a
	// group of this host, after the acknowledgement was sent, on a
	// goroutine of its own that Serve and Close wait for (so a host tool
	// may call Reverse from it). reverseTo is the address of the old
	// primary's ReplicaHost that its PlannedFailover named
	// (WithReverseTo), "" if none.
	OnPromoted func(group, reverseTo string)

	// Transport dials further replicas (extended replication); nil:
	// Extend returns ErrInvalidConfig.
	Transport transport.Transport
}

// Validate reports a missing or out-of-range field, wrapping
// ErrInvalidConfig.
func (c *ReplicaConfig) Validate() error {
	switch {
	case c.Listener == nil:
		return fmt.Errorf("%w: ReplicaConfig.Listener is nil", ErrInvalidConfig)
	case c.Store == nil:
		return fmt.Errorf("%w: ReplicaConfig.Store is nil", ErrInvalidConfig)
	case c.Authorizer == nil:
		return fmt.Errorf("%w: ReplicaConfig.Authorizer is nil", ErrInvalidConfig)
	case c.MaxConnections < 0:
		return fmt.Errorf("%w: ReplicaConfig.MaxConnections %d is negative", ErrInvalidConfig, c.MaxConnections)
	}
	return validateStores(c.Stores) // stores.go
}

// ReplicaHost is the replica side: it accepts primaries' connections,
// checks their authorization, creates their groups and applies their
// deltas to the checkpoint store, acknowledging each delta only after its
// recovery point is committed.
type ReplicaHost struct {
	cfg ReplicaConfig
	log *slog.Logger

	mu      sync.Mutex
	serving bool
	closed  bool
	stop    context.CancelFunc // cancels the running Serve
	conns   map[transport.Conn]struct{}
	wg      sync.WaitGroup
	states  map[string]State     // replica-side state of groups that are not Replicating
	contact map[string]time.Time // last authorized request per group
	fo      failoverTable        // failovers, test failovers and applies in progress
	restore restoreTable         // groups whose failovers were restored (restore.go)
	stores  storeTable           // which store holds which group (stores.go)
	roles   roleTable            // durable roles read, reverse relationships (reverse_state.go)
	ext     extendTable          // extended replication: forwards to further replicas
}

// NewReplicaHost returns a host for cfg; nothing runs until Serve.
func NewReplicaHost(cfg ReplicaConfig) (*ReplicaHost, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.Clock == nil {
		cfg.Clock = RealClock{}
	}
	if cfg.MaxConnections == 0 {
		cfg.MaxConnections = DefaultMaxConnections
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &ReplicaHost{cfg: cfg, log: log, conns: make(map[transport.Conn]struct{}), states: make(map[string]State), contact: make(map[string]time.Time)}, nil
}

// Serve accepts connections until ctx is done or Close is called, serving
// each on a goroutine of its own. It returns nil after ctx is done or
// Close, once every connection is closed and its goroutine ended; an
// Accept error that is not temporary ends it early (connections closed
// likewise). A second concurrent Serve returns ErrRunning; Serve after
// Close returns ErrClosed.
func (h *ReplicaHost) Serve(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	h.mu.Lock()
	switch {
	case h.closed:
		h.mu.Unlock()
		return ErrClosed
	case h.serving:
		h.mu.Unlock()
		return ErrRunning
	}
	h.serving, h.stop = true, cancel
	h.mu.Unlock()
	h.startExtensions(ctx)

	err := h.acceptLoop(ctx)

	cancel()
	h.mu.Lock()
	for c := range h.conns {
		c.Close()
	}
	h.mu.Unlock()
	h.wg.Wait()
	h.stopExtensions()
	h.mu.Lock()
	h.serving, h.stop = false, nil
	h.mu.Unlock()
	return err
}

func (h *ReplicaHost) acceptLoop(ctx context.Context) error {
	for {
		conn, err := h.cfg.Listener.Accept(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			if transport.IsTemporary(err) {
				h.log.Warn("accept failed", "err", err)
				continue
			}
			return fmt.Errorf("replica: accept: %w", err)
		}
		h.mu.Lock()
		if len(h.conns) >= h.cfg.MaxConnections {
			h.mu.Unlock()
			h.log.Warn("connection refused: too many", "peer", conn.Peer().Name, "max", h.cfg.MaxConnections)
			conn.Close()
			continue
		}
		h.conns[conn] = struct{}{}
		h.wg.Add(1)
		h.mu.Unlock()
		go func() {
			defer h.wg.Done()
			defer func() {
				h.mu.Lock()
				delete(h.conns, conn)
				h.mu.Unlock()
				conn.Close()
			}()
			s := &session{h: h, conn: conn, peer: conn.Peer(), log: h.log.With("peer", conn.Peer().Name, "remote", conn.RemoteAddr())}
			if err := s.serve(ctx); err != nil && ctx.Err() == nil {
				s.log.Info("connection ended", "err", err)
			}
		}()
	}
}

// Close stops a running Serve, waits for its connections to end, and
// makes later calls return ErrClosed. It does not close the store or the
// listener. It is idempotent.
func (h *ReplicaHost) Close() error {
	h.mu.Lock()
	h.closed = true
	stop := h.stop
	h.mu.Unlock()
	if stop != nil {
		stop()
	}
	h.wg.Wait()
	h.closeExtensions()
	return nil
}

// ReplicaGroup describes a group kept on a replica host.
type ReplicaGroup struct {
	ID               string               `json:"id"`
	State            State                `json:"state"`
	Volumes          []delta.VolumeInfo   `json:"volumes"`
	BlockSize        int                  `json:"block_size"`
	Retention        checkpoint.Retention `json:"retention"`
	Metadata         []byte               `json:"metadata,omitempty"`
	FailoverSettings []byte               `json:"failover_settings,omitempty"`
	Points           []checkpoint.Point   `json:"-"`
	// LastContact is when an authorized primary last sent a request for
	// the group to this host since it started (zero if none).
	LastContact time.Time `json:"last_contact,omitzero"`
}

// Group returns what the host keeps of group id: its state, volumes,
// metadata, failover settings and recovery points (oldest first). It
// returns an error wrapping ErrUnknownGroup when the store has no such
// group.
func (h *ReplicaHost) Group(ctx context.Context, id string) (ReplicaGroup, error) {
	if h.isClosed() {
		return ReplicaGroup{}, ErrClosed
	}
	g, err := h.openGroup(ctx, id)
	if err != nil {
		return ReplicaGroup{}, err
	}
	spec := g.Spec()
	rg := ReplicaGroup{ID: id, State: h.groupState(id), Volumes: spec.Volumes, BlockSize: spec.BlockSize, Retention: spec.Retention}
	h.mu.Lock()
	rg.LastContact = h.contact[id]
	h.mu.Unlock()
	if rg.Metadata, rg.FailoverSettings, err = decodeGroupRecord(spec.Meta); err != nil {
		// A group created by other means keeps its raw metadata.
		rg.Metadata, rg.FailoverSettings = spec.Meta, nil
	}
	if rg.Points, err = g.Points(ctx); err != nil {
		return ReplicaGroup{}, err
	}
	return rg, nil
}

// Groups lists the ids of the groups in every store, sorted.
func (h *ReplicaHost) Groups(ctx context.Context) ([]string, error) {
	if h.isClosed() {
		return nil, ErrClosed
	}
	return h.allGroups(ctx) // stores.go
}

func (h *ReplicaHost) isClosed() bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.closed
}

// touch records an authorized request for group id.
func (h *ReplicaHost) touch(id string) {
	now := h.cfg.Clock.Now()
	h.mu.Lock()
	h.contact[id] = now
	h.mu.Unlock()
}

// groupState is the replica-side state of an existing group.
func (h *ReplicaHost) groupState(id string) State {
	h.mu.Lock()
	defer h.mu.Unlock()
	if s, ok := h.states[id]; ok {
		return s
	}
	return Replicating
}
