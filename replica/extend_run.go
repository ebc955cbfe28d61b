package replica

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/blockrep/blockrep/checkpoint"
	"github.com/blockrep/blockrep/delta"
)

// extendTable holds a replica host's extensions and runs their forwarding
// loops while Serve runs. Its lock is never held together with the host's.
type extendTable struct {
	mu     sync.Mutex
	exts   map[string]*extension
	ctx    context.Context // Serve's, while it runs
	closed bool
	wg     sync.WaitGroup // the forwarding loops
}

// extension is the extended replication of one group.
type extension struct {
	h      *ReplicaHost
	group  string
	cfg    ExtendConfig
	holder string // of the pins
	log    *slog.Logger
	sem    chan struct{} // one forward at a time

	// unsent holds the pinned points a failed forward of this process is
	// known not to have delivered (it failed before its stream was
	// complete, or the extended replica refused it): the next forward
	// releases them. Every other pin newer than the extended replica's
	// point is in doubt and kept. Guarded by sem.
	unsent map[delta.PointID]bool

	// Guarded by extendTable.mu.
	stopLoop context.CancelFunc
	loopDone chan struct{}

	mu          sync.Mutex
	stopped     bool // StopExtend ran
	suspect     bool // the extended replica acknowledged other content: resync
	last        delta.PointID
	confirmed   bool // last was acknowledged to this process, not read from a pin
	lastTime    time.Time
	lastForward time.Time
	since       time.Time // when Extend was called
	successes   int64
	errors      int64
	failures    int // consecutive
	bytes       int64
	lastErr     error
}

func newExtension(h *ReplicaHost, group string, cfg ExtendConfig) *extension {
	return &extension{
		h:      h,
		group:  group,
		cfg:    cfg,
		holder: extendHolderPrefix + cfg.Replica,
		log:    h.log.With("group", group, "extended", cfg.Replica),
		sem:    make(chan struct{}, 1),
		since:  h.cfg.Clock.Now(),
	}
}

// startExtensions starts the forwarding loops for a Serve whose ctx is given.
func (h *ReplicaHost) startExtensions(ctx context.Context) {
	t := &h.ext
	t.mu.Lock()
	defer t.mu.Unlock()
	t.ctx = ctx
	for _, e := range t.exts {
		h.startLoopLocked(e)
	}
}

// startLoopLocked starts e's forwarding loop if Serve runs; t.mu is held.
func (h *ReplicaHost) startLoopLocked(e *extension) {
	t := &h.ext
	if t.ctx == nil || t.closed || t.ctx.Err() != nil || e.stopLoop != nil {
		return
	}
	ctx, cancel := context.WithCancel(t.ctx)
	done := make(chan struct{})
	e.stopLoop, e.loopDone = cancel, done
	t.wg.Add(1)
	go func() {
		defer t.wg.Done()
		defer func() {
			cancel()
			t.mu.Lock()
			if e.loopDone == done {
				e.stopLoop, e.loopDone = nil, nil
			}
			t.mu.Unlock()
			close(done)
		}()
		e.loop(ctx)
	}()
}

// stopExtensions ends the forwarding loops when Serve ends.
func (h *ReplicaHost) stopExtensions() {
	t := &h.ext
	t.mu.Lock()
	t.ctx = nil
	for _, e := range t.exts {
		if e.stopLoop != nil {
			e.stopLoop()
		}
	}
	t.mu.Unlock()
	t.wg.Wait()
}

// closeExtensions ends the forwarding loops for good (Close).
func (h *ReplicaHost) closeExtensions() {
	t := &h.ext
	t.mu.Lock()
	t.closed = true
	t.mu.Unlock()
	h.stopExtensions()
}

// loop forwards at once, then every Frequency, backing off after failures
// like a primary's cycles, until ctx is done.
func (e *extension) loop(ctx context.Context) {
	clock := e.h.cfg.Clock
	next := clock.Now()
	failures := 0
	for {
		if wait := next.Sub(clock.Now()); wait > 0 {
			t := clock.NewTimer(wait)
			select {
			case <-ctx.Done():
				t.Stop()
				return
			case <-t.C():
			}
		}
		if ctx.Err() != nil {
			return
		}
		start := clock.Now()
		_, err := e.forwardOnce(ctx)
		switch {
		case ctx.Err() != nil, errors.Is(err, ErrNotExtended):
			return
		case err != nil:
			failures++
			next = clock.Now().Add(extendBackoff(failures))
		default:
			failures = 0
			next = start.Add(e.cfg.Frequency)
		}
	}
}

// extendBackoff is the wait after the n-th consecutive failed forward: the
// steps of a primary's default back-off, then DefaultRetryInterval.
func extendBackoff(n int) time.Duration {
	if n >= 1 && n <= len(defaultBackoff) {
		return defaultBackoff[n-1]
	}
	return DefaultRetryInterval
}

func (e *extension) acquire(ctx context.Context) error {
	select {
	case e.sem <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (e *extension) release() { <-e.sem }

// forwardOnce runs one forward, records it and reports it.
func (e *extension) forwardOnce(ctx context.Context) (ForwardResult, error) {
	if err := e.acquire(ctx); err != nil {
		return ForwardResult{}, err
	}
	defer e.release()
	e.mu.Lock()
	stopped := e.stopped
	e.mu.Unlock()
	if stopped {
		return ForwardResult{}, fmt.Errorf("%w: %q", ErrNotExtended, e.group)
	}
	res, err := e.forwardTimed(ctx)
	e.record(ctx, res, err)
	if f := e.cfg.OnForward; f != nil {
		f(ForwardEvent{Group: e.group, Replica: e.cfg.Replica, Result: res, Err: err})
	}
	return res, err
}

// forwardTimed runs forward within ExtendConfig.Timeout, if set.
func (e *extension) forwardTimed(ctx context.Context) (ForwardResult, error) {
	d := e.cfg.Timeout
	if d <= 0 {
		return e.forward(ctx)
	}
	fctx, cancel := context.WithCancelCause(ctx)
	t := e.h.cfg.Clock.NewTimer(d)
	done, exited := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(exited)
		select {
		case <-t.C():
			cancel(ErrForwardTimeout)
		case <-done:
		}
	}()
	res, err := e.forward(fctx)
	t.Stop()
	close(done)
	<-exited
	if err != nil && context.Cause(fctx) == ErrForwardTimeout {
		err = fmt.Errorf("%w after %s: %w", ErrForwardTimeout, d, err)
	}
	cancel(nil)
	return res, err
}

// record keeps a forward's outcome. A forward stopped because its ctx
// ended is not counted as an error.
func (e *extension) record(ctx context.Context, res ForwardResult, err error) {
	now := e.h.cfg.Clock.Now()
	e.mu.Lock()
	defer e.mu.Unlock()
	switch {
	case err != nil && ctx.Err() != nil:
	case err != nil:
		e.errors++
		e.failures++
		e.lastErr = err
		if errors.Is(err, ErrForwardMismatch) {
			e.suspect = true
		}
		e.log.Warn("forward failed", "err", err)
	default:
		e.successes++
		e.failures = 0
		e.lastErr = nil
		e.suspect = false
		e.lastForward = now
		e.bytes += res.StreamBytes
		if !res.Point.IsZero() {
			e.last, e.lastTime, e.confirmed = res.Point, res.Time, true
		}
		if res.Points > 0 {
			e.log.Debug("forwarded", "point", res.Point, "base", res.Base, "points", res.Points, "bytes", res.StreamBytes)
		}
	}
}

// status describes e at now.
func (e *extension) status(now time.Time) ExtensionStatus {
	e.mu.Lock()
	defer e.mu.Unlock()
	st := ExtensionStatus{
		Group:         e.group,
		Replica:       e.cfg.Replica,
		Frequency:     e.cfg.Frequency,
		Retention:     e.cfg.Retention,
		LastPoint:     e.last,
		LastPointTime: e.lastTime,
		LastForward:   e.lastForward,
		Successes:     e.successes,
		Errors:        e.errors,
		Bytes:         e.bytes,
	}
	if e.lastErr != nil {
		st.LastError = e.lastErr.Error()
	}
	st.Health = e.healthLocked(now)
	return st
}

// healthLocked is Critical after an error retrying cannot cure or a
// content mismatch (until a resync cured it), or when no
// forward succeeded for MaxTimeSinceSuccess (or two frequencies, if
// longer); Warning while the last forward failed; Normal otherwise.
func (e *extension) healthLocked(now time.Time) Health {
	var h Health
	add := func(l HealthLevel, format string, args ...any) {
		h.Level = max(h.Level, l)
		h.Reasons = append(h.Reasons, fmt.Sprintf(format, args...))
	}
	if e.lastErr != nil && (e.suspect || isFatal(e.lastErr)) {
		add(Critical, "forwarding needs an operator: %v", e.lastErr)
	}
	ref := e.lastForward
	if ref.IsZero() {
		ref = e.since
	}
	if limit := max(MaxTimeSinceSuccess, 2*e.cfg.Frequency); now.Sub(ref) > limit {
		add(Critical, "no successful forward for %s", now.Sub(ref).Round(time.Second))
	}
	if e.lastErr != nil && h.Level < Critical {
		add(Warning, "the last %d forwards failed: %v", e.failures, e.lastErr)
	}
	return h
}

// pinnedPoint is one of an extension's pins.
type pinnedPoint struct {
	Point delta.PointID
	time  time.Time // the instant the point represents
	since time.Time // when it was pinned
}

// pinned returns the points g holds for e, oldest first.
func (e *extension) pinned(ctx context.Context, g checkpoint.Group) ([]pinnedPoint, error) {
	pins, err := g.Pins(ctx)
	if err != nil {
		return nil, err
	}
	pts, err := g.Points(ctx)
	if err != nil {
		return nil, err
	}
	mine := make(map[delta.PointID]time.Time)
	for _, pin := range pins {
		if pin.Holder == e.holder {
			mine[pin.Point] = pin.Since
		}
	}
	var out []pinnedPoint
	for _, p := range pts {
		if since, ok := mine[p.ID]; ok {
			out = append(out, pinnedPoint{Point: p.ID, time: p.Time, since: since})
		}
	}
	return out, nil
}
