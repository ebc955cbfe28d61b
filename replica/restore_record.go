package replica

import "github.com/blockrep/blockrep/delta"

// recordCompleted reports whether group record meta says a failover
// completed by committing point made (CompleteFailover writes the
// FailedOver role once its image is committed).
func recordCompleted(meta []byte, made delta.PointID) bool {
	rec, err := decodeRecord(meta)
	return err == nil && rec.Role.State == FailedOver && rec.Role.Point == made
}

// recordFailedOver reports whether group record meta says the group is
// FailedOver: a failover clone beside such a record is what a completion
// interrupted after its commit left.
func recordFailedOver(meta []byte) bool {
	rec, err := decodeRecord(meta)
	return err == nil && rec.Role.State == FailedOver
}
