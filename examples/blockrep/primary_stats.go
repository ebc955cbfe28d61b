package main

import (
	"fmt"
	"time"

	"github.com/blockrep/blockrep/replica"
)

// savedStats are a group's statistics kept in its state file, so that
// they add up over the short processes that run its cycles.
type savedStats struct {
	WindowStart         time.Time `json:"window_start"`
	LastReplication     time.Time `json:"last_replication,omitzero"`
	SuccessfulCycles    int64     `json:"successful_cycles"`
	MissedCycles        int64     `json:"missed_cycles"`
	Errors              int64     `json:"errors"`
	TotalDeltaBytes     int64     `json:"total_delta_bytes"`
	MaxDeltaBytes       int64     `json:"max_delta_bytes"`
	TotalLatency        duration  `json:"total_latency"`
	MaxLatency          duration  `json:"max_latency"`
	LastError           string    `json:"last_error,omitempty"`
	ConsecutiveFailures int       `json:"consecutive_failures"`
}

// success records an acknowledged cycle.
func (s *savedStats) success(at time.Time, bytes int64, latency time.Duration) {
	s.LastReplication = at
	s.SuccessfulCycles++
	s.TotalDeltaBytes += bytes
	s.MaxDeltaBytes = max(s.MaxDeltaBytes, bytes)
	s.TotalLatency += duration(latency)
	s.MaxLatency = max(s.MaxLatency, duration(latency))
	s.ConsecutiveFailures = 0
	s.LastError = ""
}

// failure records a failed cycle; a failed scheduled cycle is also missed.
func (s *savedStats) failure(err error, scheduled bool) {
	s.Errors++
	s.ConsecutiveFailures++
	s.LastError = err.Error()
	if scheduled {
		s.MissedCycles++
	}
}

// stats converts the saved statistics to the library's Stats, whose JSON
// field names status prints.
func (st *groupState) stats() replica.Stats {
	s := st.Stats
	out := replica.Stats{
		State:               st.State,
		WindowStart:         s.WindowStart,
		LastReplication:     s.LastReplication,
		MaximumDeltaBytes:   s.MaxDeltaBytes,
		MaximumLatency:      time.Duration(s.MaxLatency),
		Errors:              s.Errors,
		SuccessfulCycles:    s.SuccessfulCycles,
		MissedCycles:        s.MissedCycles,
		LastError:           s.LastError,
		ConsecutiveFailures: s.ConsecutiveFailures,
	}
	if !st.LastPoint.IsZero() {
		out.LastPoint = st.LastPoint.String()
	}
	if s.SuccessfulCycles > 0 {
		out.AverageDeltaBytes = s.TotalDeltaBytes / s.SuccessfulCycles
		out.AverageLatency = time.Duration(s.TotalLatency) / time.Duration(s.SuccessfulCycles)
	}
	return out
}

// health applies the library's health rules (replica.Health) to the saved
// statistics at time now: Critical when resynchronization is required or no
// cycle succeeded for replica.MaxTimeSinceSuccess while replicating;
// Warning when suspended or more than replica.MissedCyclesWarning of the
// cycles were missed.
func (st *groupState) health(now time.Time) replica.Health {
	var h replica.Health
	add := func(level replica.HealthLevel, reason string) {
		if level > h.Level {
			h.Level = level
			h.Reasons = append([]string{reason}, h.Reasons...)
			return
		}
		h.Reasons = append(h.Reasons, reason)
	}
	s := st.Stats
	switch st.State {
	case replica.ResynchronizationRequired:
		add(replica.Critical, "resynchronization is required")
	case replica.Suspended:
		add(replica.Warning, "replication is suspended")
	case replica.Replicating:
		since := s.LastReplication
		if since.IsZero() {
			since = s.WindowStart
		}
		if d := now.Sub(since); d > replica.MaxTimeSinceSuccess {
			add(replica.Critical, fmt.Sprintf("no successful cycle for %s", d.Truncate(time.Second)))
		}
	case replica.PreparedForFailover:
		add(replica.Normal, "handed over to the replica; kept here as a replica in "+st.Demoted)
	case replica.InitialReplicationPending:
		add(replica.Warning, "initial replication has not completed")
	}
	if total := s.SuccessfulCycles + s.MissedCycles; total > 0 {
		if share := float64(s.MissedCycles) / float64(total); share > replica.MissedCyclesWarning {
			add(replica.Warning, fmt.Sprintf("%d of %d cycles missed", s.MissedCycles, total))
		}
	}
	if s.ConsecutiveFailures > 0 && s.LastError != "" {
		add(replica.Normal, fmt.Sprintf("last cycle failed: %s", s.LastError))
	}
	return h
}
