package replica

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/blockrep/blockrep/checkpoint"
	"github.com/blockrep/blockrep/delta"
	"github.com/blockrep/blockrep/transport"
)

// DefaultExtendFrequency is the forwarding frequency of an extension whose
// ExtendConfig.Frequency is zero.
const DefaultExtendFrequency = Frequency5m

// extendHolderPrefix starts the holder name of an extension's pins; the
// extended replica's address follows, so a host restarted on the same
// store finds the point each extension forwarded last.
const extendHolderPrefix = "extend:"

// Sentinel errors of extended replication.
var (
	// ErrExtended is returned by ReplicaHost.Extend when the group already
	// forwards to an extended replica (StopExtend it first).
	ErrExtended = errors.New("replica: group is already extended")

	// ErrNotExtended is returned by ReplicaHost.StopExtend and ForwardNow
	// for a group that has no extension on this host.
	ErrNotExtended = errors.New("replica: group is not extended")

	// ErrForwardTimeout is returned by a forward that did not finish
	// within ExtendConfig.Timeout; it is retried like a lost connection.
	ErrForwardTimeout = errors.New("replica: forward timed out")

	// ErrForwardMismatch is returned by a forward whose extended replica
	// acknowledged the point with another content hash than this replica
	// records for it: the two hold different data under the same point id.
	// Health is Critical, and the next forward of a newer point compares
	// hash trees instead of trusting the id, which repairs the extended
	// replica.
	ErrForwardMismatch = errors.New("replica: extended replica acknowledged another content than this replica's point")
)

// ExtendConfig configures the extended replication of one group: the
// further replica this replica forwards its recovery points to, and how
// often.
type ExtendConfig struct {
	// Replica is the address of the extended replica, dialed with
	// ReplicaConfig.Transport. Required; at most MaxExtendAddr bytes.
	Replica string

	// Frequency is the time between forwards: 0 means
	// DefaultExtendFrequency (5 minutes); otherwise at least MinFrequency.
	// A forward that finds no point newer than the last one forwarded
	// sends nothing, so forwarding more often than the upstream's cycles
	// adds no traffic; Frequency5m and Frequency15m are the usual choices.
	Frequency time.Duration

	// Retention is the extended replica's own retention, given to it when
	// the forward creates the group there.
	Retention checkpoint.Retention

	// Progress, when set, is called during the initial copy with the
	// bytes of blocks done and in all.
	Progress func(done, total int64)

	// ChunkSize is the frame size the delta is cut into (0 means
	// transport.DefaultChunkSize).
	ChunkSize int

	// Timeout, when positive, bounds a forward on the host's clock: an
	// extended replica that stops answering fails it with
	// ErrForwardTimeout instead of holding the extension. Zero means no
	// bound (a transport with keepalives notices dead peers by itself).
	Timeout time.Duration

	// OnForward, when set, is called after every forward attempt,
	// scheduled or ForwardNow, once its outcome is in Extensions. It runs
	// on the forwarding goroutine and must return quickly.
	OnForward func(ForwardEvent)
}

// MaxExtendAddr bounds ExtendConfig.Replica: the address is part of the
// name of the extension's pins.
const MaxExtendAddr = checkpoint.MaxNameLen - len(extendHolderPrefix)

// Validate reports a missing or out-of-range field, wrapping
// ErrInvalidConfig.
func (c *ExtendConfig) Validate() error {
	switch {
	case c.Replica == "":
		return fmt.Errorf("%w: ExtendConfig.Replica is empty", ErrInvalidConfig)
	case len(c.Replica) > MaxExtendAddr:
		return fmt.Errorf("%w: ExtendConfig.Replica is %d bytes, more than %d", ErrInvalidConfig, len(c.Replica), MaxExtendAddr)
	case c.Frequency != 0 && c.Frequency < MinFrequency:
		return fmt.Errorf("%w: ExtendConfig.Frequency %s is below %s", ErrInvalidConfig, c.Frequency, MinFrequency)
	case c.Timeout < 0:
		return fmt.Errorf("%w: ExtendConfig.Timeout %s is negative", ErrInvalidConfig, c.Timeout)
	case c.ChunkSize < 0 || c.ChunkSize > transport.MaxFrameSize:
		return fmt.Errorf("%w: ExtendConfig.ChunkSize %d outside 0..%d", ErrInvalidConfig, c.ChunkSize, transport.MaxFrameSize)
	case c.Retention.Additional < 0 || c.Retention.Additional >= checkpoint.MaxPoints || c.Retention.Spacing < 0:
		return fmt.Errorf("%w: ExtendConfig.Retention %+v out of bounds", ErrInvalidConfig, c.Retention)
	}
	return nil
}

// ForwardResult describes one forward.
type ForwardResult struct {
	// Point is the point the extended replica is at after the forward:
	// this replica's latest point (zero when the group has none yet).
	Point delta.PointID `json:"point"`
	// Base is the point the delta was built on: the one forwarded before
	// (zero for the initial copy). Base equals Point when nothing was sent.
	Base delta.PointID `json:"base"`
	// Time is the instant Point represents.
	Time time.Time `json:"time,omitzero"`
	// Points counts the points of this replica's chain after Base up to
	// Point that the delta coalesced (0 when nothing was sent; 1 for a
	// resync). Points retention pruned before the forward are not counted.
	Points int `json:"points"`
	// Blocks is the blocks the delta carried; StreamBytes its size.
	Blocks      int64 `json:"blocks"`
	StreamBytes int64 `json:"delta_size"`
	// Replayed: the extended replica had the point already.
	Replayed bool `json:"replayed,omitempty"`
	// Resync: the extended replica was at a point this replica does not
	// have (Base), so the blocks that differ were found by comparing hash
	// trees, which cost HashBytes of queries and answers.
	Resync    bool  `json:"resync,omitempty"`
	HashBytes int64 `json:"hash_bytes,omitempty"`
}

// ForwardEvent reports one finished forward attempt to
// ExtendConfig.OnForward.
type ForwardEvent struct {
	Group   string
	Replica string
	Result  ForwardResult
	Err     error
}

// ExtensionStatus describes the extended replication of one group.
type ExtensionStatus struct {
	Group     string               `json:"group"`
	Replica   string               `json:"replica"`
	Frequency time.Duration        `json:"frequency"`
	Retention checkpoint.Retention `json:"retention"`
	// LastPoint is the point the extended replica last acknowledged (zero
	// before the initial copy); LastPointTime the instant it represents.
	LastPoint     delta.PointID `json:"last_point"`
	LastPointTime time.Time     `json:"last_point_time,omitzero"`
	// LastForward is when the last successful forward ended (host clock).
	LastForward time.Time `json:"last_forward,omitzero"`
	Successes   int64     `json:"successes"`
	Errors      int64     `json:"errors"`
	Bytes       int64     `json:"bytes"` // delta bytes of the successful forwards
	LastError   string    `json:"last_error,omitempty"`
	Health      Health    `json:"health"`
}

// Extend starts forwarding group's recovery points to a further replica,
// which the forward creates with the same volumes, block size and
// metadata and with cfg.Retention: the extended replica's points are
// points of this replica, under the same ids. A forward runs at once when
// Serve runs, then every cfg.Frequency while Serve runs; failures are
// retried after 1, 2, 4 and 8 minutes, then every DefaultRetryInterval.
//
// After a restart the caller calls Extend again with the same
// cfg.Replica: the pin the last forward left names the point the extended
// replica has, and forwarding carries on from it.
//
// The group must be in this host's store: on an extended replica, a
// further hop is added once the first forward created the group there.
//
// Errors: ErrInvalidConfig (no ReplicaConfig.Transport, a bad cfg),
// ErrUnknownGroup, ErrExtended, ErrClosed, the store's errors.
func (h *ReplicaHost) Extend(ctx context.Context, group string, cfg ExtendConfig) error {
	if h.isClosed() {
		return ErrClosed
	}
	if h.cfg.Transport == nil {
		return fmt.Errorf("%w: ReplicaConfig.Transport is nil: no extended replication", ErrInvalidConfig)
	}
	if err := cfg.Validate(); err != nil {
		return err
	}
	if cfg.Frequency == 0 {
		cfg.Frequency = DefaultExtendFrequency
	}
	g, err := h.openGroup(ctx, group)
	if err != nil {
		return err
	}
	e := newExtension(h, group, cfg)
	pins, err := e.pinned(ctx, g)
	if err != nil {
		return err
	}
	if len(pins) > 0 {
		// The oldest pin was acknowledged; a newer one may be in doubt
		// until the next forward asks the extended replica.
		e.last, e.lastTime, e.lastForward = pins[0].Point, pins[0].time, pins[0].since
	}
	t := &h.ext
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return ErrClosed
	}
	if t.exts == nil {
		t.exts = make(map[string]*extension)
	}
	if old, ok := t.exts[group]; ok {
		return fmt.Errorf("%w: %q forwards to %s", ErrExtended, group, old.cfg.Replica)
	}
	t.exts[group] = e
	h.log.Info("extended replication started", "group", group, "replica", cfg.Replica, "frequency", cfg.Frequency, "from", e.last)
	h.startLoopLocked(e)
	return nil
}

// StopExtend stops forwarding group: its scheduled forwards end (a forward
// in flight is stopped), and the extension's pins are released so that
// retention may prune the points again. The extended replica keeps what
// it has; a later Extend to it carries on from its latest point while this
// replica still has that point. Errors: ErrNotExtended, ErrClosed, ctx's
// error while a ForwardNow in flight is awaited, the store's errors.
func (h *ReplicaHost) StopExtend(ctx context.Context, group string) error {
	if h.isClosed() {
		return ErrClosed
	}
	t := &h.ext
	t.mu.Lock()
	e, ok := t.exts[group]
	if !ok {
		t.mu.Unlock()
		return fmt.Errorf("%w: %q", ErrNotExtended, group)
	}
	delete(t.exts, group)
	stop, done := e.stopLoop, e.loopDone
	t.mu.Unlock()
	if stop != nil {
		stop()
		<-done
	}
	if err := e.acquire(ctx); err != nil {
		return err
	}
	defer e.release()
	e.mu.Lock()
	e.stopped = true
	e.mu.Unlock()
	g, err := h.openGroup(ctx, group)
	if err != nil {
		return err
	}
	pins, err := e.pinned(ctx, g)
	if err != nil {
		return err
	}
	for _, p := range pins {
		if err := g.Unpin(ctx, p.Point, e.holder); err != nil {
			return fmt.Errorf("replica: stop extension of %q: %w", group, err)
		}
	}
	h.log.Info("extended replication stopped", "group", group, "replica", e.cfg.Replica)
	return nil
}

// ForwardNow runs one forward of group now, whether or not Serve runs,
// and waits for it: the latest point goes to the extended replica, as a
// delta of the blocks changed since the point forwarded last, which
// coalesces the points in between. When the latest point is the one
// forwarded last it sends nothing (ForwardResult.Points is 0). Errors:
// ErrNotExtended, ErrClosed, ctx's error, and the forward's: the
// transport's, a *RemoteError refusal, ErrForwardMismatch,
// ErrReplicaFailedOver.
//
// When the extended replica is at a point this replica does not have (it
// was rolled back there, or its group was made by other means), the
// forward compares the hash trees of that point and of the latest point,
// as a primary's resynchronization does, and sends the blocks that differ
// on top of it (ForwardResult.Resync).
func (h *ReplicaHost) ForwardNow(ctx context.Context, group string) (ForwardResult, error) {
	if h.isClosed() {
		return ForwardResult{}, ErrClosed
	}
	h.ext.mu.Lock()
	e, ok := h.ext.exts[group]
	h.ext.mu.Unlock()
	if !ok {
		return ForwardResult{}, fmt.Errorf("%w: %q", ErrNotExtended, group)
	}
	return e.forwardOnce(ctx)
}

// Extensions describes every extension of this host, by group. Health is
// Critical after an error retrying will not cure (the extended replica
// refuses this host, a content mismatch) or when no forward succeeded for
// MaxTimeSinceSuccess (or two frequencies, if longer), Warning while
// forwards fail, Normal otherwise.
func (h *ReplicaHost) Extensions() []ExtensionStatus {
	h.ext.mu.Lock()
	exts := make([]*extension, 0, len(h.ext.exts))
	for _, e := range h.ext.exts {
		exts = append(exts, e)
	}
	h.ext.mu.Unlock()
	now := h.cfg.Clock.Now()
	out := make([]ExtensionStatus, 0, len(exts))
	for _, e := range exts {
		out = append(out, e.status(now))
	}
	slices.SortFunc(out, func(a, b ExtensionStatus) int { return strings.Compare(a.Group, b.Group) })
	return out
}
