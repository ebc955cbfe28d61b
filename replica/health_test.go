package replica

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/blockrep/blockrep/transport"
	"github.com/stretchr/testify/assert"
)

func TestHealthReasons(t *testing.T) {
	start := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	now := start.Add(30 * time.Minute)
	failedOver := fmt.Errorf("replica: delta refused: %w: %w", ErrReplicaFailedOver, &RemoteError{Code: CodeStateConflict, Message: "failed over"})
	cases := []struct {
		name  string
		state State
		acc   statsAcc
		want  Health
	}{
		{"replicating", Replicating, statsAcc{windowStart: start, lastSuccess: now, successes: 4}, Health{Level: Normal}},
		{"resynchronizing", Resynchronizing, statsAcc{windowStart: start, lastSuccess: start}, Health{Level: Warning, Reasons: []string{
			"resynchronization in progress: the blocks that differ between primary and replica are being compared and sent"}}},
		{"resynchronization required", ResynchronizationRequired, statsAcc{windowStart: start}, Health{Level: Critical, Reasons: []string{
			"resynchronization required: which blocks differ between primary and replica is not known"}}},
		{"suspended", Suspended, statsAcc{windowStart: start}, Health{Level: Warning, Reasons: []string{"replication is suspended"}}},
		{"replica failed over", Replicating, statsAcc{windowStart: start, lastSuccess: now, lastErr: failedOver, failures: 3}, Health{Level: Critical, Reasons: []string{
			"replica failed over: the replica takes no delta from this primary until its failover is cancelled"}}},
		{"temporary error", Replicating, statsAcc{windowStart: start, lastSuccess: now, lastErr: transport.ErrConnectionLost, failures: 1}, Health{Level: Normal}},
		{"fatal error", Replicating, statsAcc{windowStart: start, lastSuccess: now, lastErr: transport.ErrUnauthorized, fatal: true}, Health{Level: Critical, Reasons: []string{
			"replication failed and retrying will not help: " + transport.ErrUnauthorized.Error()}}},
		{"resynchronizing with missed cycles", Resynchronizing, statsAcc{windowStart: start, lastSuccess: start, successes: 1, missed: 3}, Health{Level: Warning, Reasons: []string{
			"resynchronization in progress: the blocks that differ between primary and replica are being compared and sent",
			"3 of 4 cycles missed since 2026-11-25T12:00:00Z"}}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			assert.Equal(t, c.want, c.acc.health(c.state, now))
		})
	}
	assert.False(t, isFatal(failedOver), "a failover on the replica can be cancelled")
	assert.True(t, errors.Is(failedOver, ErrInvalidState))
}
