package checkpoint

import (
	"time"

	"github.com/blockrep/blockrep/delta"
)

// keep reports, for a chain oldest first, which points retention keeps:
// the latest always; then, walking back from it, the newest point of each
// earlier slot of r.Spacing (slots aligned on the clock, one hour by
// default, as Hyper-V Replica's hourly points) — or with KeepApp the newest
// app-consistent point of the slot when it has one — for the r.Additional
// most recent slots before the latest point's own slot. Points of the
// latest point's slot other than the latest are not kept: the next point
// would supersede them.
func (r Retention) keep(points []Point) []bool {
	keep := make([]bool, len(points))
	if len(points) == 0 {
		return keep
	}
	last := len(points) - 1
	keep[last] = true
	if r.Additional == 0 {
		return keep
	}
	spacing := r.spacing()
	slot := func(t time.Time) time.Time { return t.Truncate(spacing) }
	latestSlot := slot(points[last].Time)
	type choice struct {
		slot   time.Time
		newest int // newest point of the slot
		app    int // newest app-consistent point, -1 if none
	}
	var slots []choice
	for i := last - 1; i >= 0; i-- {
		s := slot(points[i].Time)
		if !s.Before(latestSlot) {
			continue
		}
		n := len(slots)
		if n == 0 || !slots[n-1].slot.Equal(s) {
			if n == r.Additional {
				// Points are in time order, so this slot and every older
				// one fall outside the window. An out-of-order point (a
				// clock step) only ever ends up not kept.
				break
			}
			slots = append(slots, choice{slot: s, newest: i, app: -1})
			n++
		}
		if r.KeepApp && slots[n-1].app < 0 && points[i].Consistency == delta.ConsistencyApp {
			slots[n-1].app = i
		}
	}
	for _, c := range slots {
		if c.app >= 0 {
			keep[c.app] = true
		} else {
			keep[c.newest] = true
		}
	}
	return keep
}
