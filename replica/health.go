package replica

import (
	"errors"
	"fmt"
	"slices"
	"time"
)

// HealthLevel is the overall health of a relationship.
type HealthLevel uint8

// The health levels, in increasing severity.
const (
	Normal HealthLevel = iota
	Warning
	Critical
)

var healthNames = [...]string{Normal: "Normal", Warning: "Warning", Critical: "Critical"}

// String returns "Normal", "Warning" or "Critical".
func (h HealthLevel) String() string {
	if int(h) < len(healthNames) {
		return healthNames[h]
	}
	return fmt.Sprintf("HealthLevel(%d)", uint8(h))
}

// MarshalText implements encoding.TextMarshaler.
func (h HealthLevel) MarshalText() ([]byte, error) {
	if int(h) >= len(healthNames) {
		return nil, fmt.Errorf("replica: unknown health level %d", uint8(h))
	}
	return []byte(healthNames[h]), nil
}

// UnmarshalText implements encoding.TextUnmarshaler.
func (h *HealthLevel) UnmarshalText(b []byte) error {
	for i, n := range healthNames {
		if n == string(b) {
			*h = HealthLevel(i)
			return nil
		}
	}
	return fmt.Errorf("replica: unknown health level %q", b)
}

// Health thresholds (Hyper-V Replica's).
const (
	// MissedCyclesWarning is the share of missed cycles over the monitoring
	// window above which health is Warning.
	MissedCyclesWarning = 0.20
	// MaxTimeSinceSuccess is how long a replicating relationship may go
	// without a successful cycle before health is Critical.
	MaxTimeSinceSuccess = time.Hour
)

// Health is a relationship's health and why.
type Health struct {
	Level   HealthLevel `json:"level"`
	Reasons []string    `json:"reasons,omitempty"` // one sentence each, worst first
}

// Stats are a relationship's replication statistics since WindowStart
// (when the relationship was enabled or ResetStats was last called).
type Stats struct {
	State               State         `json:"state"`
	WindowStart         time.Time     `json:"monitoring_window_start"`
	LastReplication     time.Time     `json:"last_replication_time,omitzero"` // when the last successful cycle was acknowledged
	LastPoint           string        `json:"last_point,omitempty"`           // id of the last acknowledged point
	PendingBytes        int64         `json:"pending_size"`                   // bytes written since the last freeze, not yet sent
	AverageDeltaBytes   int64         `json:"average_delta_size"`
	MaximumDeltaBytes   int64         `json:"maximum_delta_size"`
	AverageLatency      time.Duration `json:"average_latency"` // freeze to acknowledgement
	MaximumLatency      time.Duration `json:"maximum_latency"`
	Errors              int64         `json:"errors"`
	SuccessfulCycles    int64         `json:"successful_cycles"`
	MissedCycles        int64         `json:"missed_cycles"`
	InitialBytesDone    int64         `json:"initial_replication_bytes_done,omitempty"`
	InitialBytesTotal   int64         `json:"initial_replication_bytes_total,omitempty"`
	LastError           string        `json:"last_error,omitempty"`
	ConsecutiveFailures int           `json:"consecutive_failures"`
}

// statsAcc accumulates what Stats reports; guarded by the relationship's
// mutex.
type statsAcc struct {
	windowStart  time.Time
	lastSuccess  time.Time // also set by initial replication
	deltaTotal   int64
	deltaMax     int64
	latencyTotal time.Duration
	latencyMax   time.Duration
	errors       int64
	successes    int64
	missed       int64
	initialDone  int64
	initialTotal int64
	lastErr      error
	fatal        bool // lastErr is not temporary: retrying will not help
	failures     int  // consecutive failed attempts
}

func (s *statsAcc) success(at time.Time, size int64, latency time.Duration) {
	s.successes++
	s.lastSuccess = at
	s.deltaTotal += size
	s.deltaMax = max(s.deltaMax, size)
	s.latencyTotal += latency
	s.latencyMax = max(s.latencyMax, latency)
	s.lastErr, s.fatal, s.failures = nil, false, 0
}

func (s *statsAcc) failure(err error, fatal bool) {
	s.errors++
	s.failures++
	s.lastErr, s.fatal = err, fatal
}

func (s *statsAcc) reset(now time.Time) {
	last := s.lastSuccess
	*s = statsAcc{windowStart: now, lastSuccess: last}
}

// health derives the health from the state and the counters at now.
func (s *statsAcc) health(state State, now time.Time) Health {
	type reason struct {
		level HealthLevel
		text  string
	}
	var rs []reason
	raise := func(l HealthLevel, text string) { rs = append(rs, reason{l, text}) }
	switch state {
	case ResynchronizationRequired:
		raise(Critical, "resynchronization required: which blocks differ between primary and replica is not known")
	case Resynchronizing:
		raise(Warning, "resynchronization in progress: the blocks that differ between primary and replica are being compared and sent")
	case Suspended:
		raise(Warning, "replication is suspended")
	}
	if errors.Is(s.lastErr, ErrReplicaFailedOver) {
		raise(Critical, "replica failed over: the replica takes no delta from this primary until its failover is cancelled")
	}
	if errors.Is(s.lastErr, ErrSplitBrain) {
		raise(Critical, "split brain: both sides acted as the group's primary; an operator must choose which side wins")
	}
	if reason := waitingReason(s.lastErr); reason != "" {
		raise(Warning, reason)
	}
	if s.lastErr != nil && s.fatal {
		raise(Critical, "replication failed and retrying will not help: "+s.lastErr.Error())
	}
	if state == Replicating && !s.lastSuccess.IsZero() && now.Sub(s.lastSuccess) > MaxTimeSinceSuccess {
		raise(Critical, fmt.Sprintf("no successful cycle for %s", now.Sub(s.lastSuccess).Round(time.Second)))
	}
	if total := s.successes + s.missed; total > 0 && float64(s.missed)/float64(total) > MissedCyclesWarning {
		raise(Warning, fmt.Sprintf("%d of %d cycles missed since %s", s.missed, total, s.windowStart.UTC().Format(time.RFC3339)))
	}
	slices.SortStableFunc(rs, func(a, b reason) int { return int(b.level) - int(a.level) })
	var h Health
	for _, r := range rs {
		h.Level = max(h.Level, r.level)
		h.Reasons = append(h.Reasons, r.text)
	}
	return h
}
