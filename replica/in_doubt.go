package replica

import "github.com/blockrep/blockrep/delta"

// maxDoubts bounds how many earlier points a relationship remembers as in
// doubt besides Relationship.inDoubt. Each failed attempt adds one; a
// Status that shows one of them, or an acknowledgement, clears them all.
const maxDoubts = 8

// doubtLocked records id as the point whose acknowledgement is in doubt
// from now on. The point that was in doubt before stays recognised: the
// replica may still be applying it on a connection the primary gave up on
// (a lost or duplicated Ack), and commits it after the next attempt was
// announced — the next attempt is then refused, and the replica holds the
// earlier point, which is one of ours. The earlier points are only
// meaningful while inDoubt is set: every place that settles the
// relationship on an acknowledged point clears inDoubt, and with it them.
// Callers hold r.mu.
func (r *Relationship) doubtLocked(id delta.PointID) {
	switch {
	case r.inDoubt.IsZero():
		r.doubts = r.doubts[:0]
	case len(r.doubts) == maxDoubts:
		copy(r.doubts, r.doubts[1:])
		r.doubts[len(r.doubts)-1] = r.inDoubt
	default:
		r.doubts = append(r.doubts, r.inDoubt)
	}
	r.inDoubt = id
}

// inDoubtLocked reports whether p is a point this primary sent whose
// acknowledgement it never received: the latest attempt's or an earlier
// one since the last acknowledged point. Callers hold r.mu.
func (r *Relationship) inDoubtLocked(p delta.PointID) bool {
	if p.IsZero() || r.inDoubt.IsZero() {
		return false
	}
	if p == r.inDoubt {
		return true
	}
	for _, d := range r.doubts {
		if d == p {
			return true
		}
	}
	return false
}
