package replica

import (
	"errors"
	"fmt"

	"github.com/blockrep/blockrep/delta"
)

// MarkChanged marks blocks of configured volume vol dirty, so that the next
// cycle sends them. It is for changes made behind the tracker's back — by a
// program that wrote the volume's file directly, found afterwards by
// comparing block or page hashes (delta.Scan) — not for the host's own
// writes, which go through Volume(vol) and are tracked (and preserved for a
// cycle in flight) as they happen.
//
// blocks must be a set over exactly the volume's blocks (its Len is the
// volume's block count at the group's block size). Marking is all or
// nothing: a set of the wrong length, an excluded volume or an index out of
// range returns an error wrapping ErrInvalidConfig and marks nothing; after
// Remove or Close it returns ErrClosed. A persistent tracker makes the marks
// durable before MarkChanged returns.
func (r *Relationship) MarkChanged(vol int, blocks *delta.Set) error {
	if vol < 0 || vol >= len(r.cfg.Volumes) {
		return fmt.Errorf("%w: volume %d of group %s: out of range (%d volumes)", ErrInvalidConfig, vol, r.cfg.ID, len(r.cfg.Volumes))
	}
	ti := -1
	for i, c := range r.included {
		if c == vol {
			ti = i
			break
		}
	}
	if ti < 0 {
		return fmt.Errorf("%w: volume %d of group %s is excluded from replication", ErrInvalidConfig, vol, r.cfg.ID)
	}
	if blocks == nil {
		return fmt.Errorf("%w: nil block set for volume %d of group %s", ErrInvalidConfig, vol, r.cfg.ID)
	}
	g := r.geoms[ti]
	if blocks.Len() != g.Blocks() {
		return fmt.Errorf("%w: block set of %d blocks for volume %d of group %s, which has %d", ErrInvalidConfig, blocks.Len(), vol, r.cfg.ID, g.Blocks())
	}
	r.mu.Lock()
	closed := r.closed
	r.mu.Unlock()
	if closed {
		return ErrClosed
	}
	for start, count := range blocks.Runs() {
		off, _ := g.BlockBounds(start)
		end := g.Size
		if last := start + count; last < g.Blocks() {
			end, _ = g.BlockBounds(last)
		}
		if err := r.tracker.Mark(ti, off, end-off); err != nil {
			if errors.Is(err, delta.ErrClosed) {
				return ErrClosed
			}
			return fmt.Errorf("replica: marking blocks %d..%d of volume %d of group %s: %w", start, start+count-1, vol, r.cfg.ID, err)
		}
	}
	return nil
}
