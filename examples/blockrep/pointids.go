package main

import (
	"crypto/rand"
	"fmt"

	"github.com/blockrep/blockrep/delta"
)

// pointIDs is the source of recovery point ids given to the PrimaryHost
// (PrimaryConfig.Rand). Each id it hands out is first recorded by record
// — written durably to the group's state as its pending point — so that
// when the replica commits a point whose acknowledgement never reaches
// this process (the replica, the connection or this process dies), the
// next process knows the point and builds on it instead of requiring a
// resynchronization.
type pointIDs struct {
	record func(id delta.PointID) error
}

func (p *pointIDs) Read(b []byte) (int, error) {
	if _, err := rand.Read(b); err != nil {
		return 0, err
	}
	if len(b) == len(delta.PointID{}) && p.record != nil {
		var id delta.PointID
		copy(id[:], b)
		if err := p.record(id); err != nil {
			return 0, fmt.Errorf("recording the pending point: %w", err)
		}
	}
	return len(b), nil
}
