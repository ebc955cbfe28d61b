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
	ti, err := r.markTarget(vol, blocks, "block")
	if err != nil {
		return err
	}
	g := r.geoms[ti]
	if blocks.Len() != g.Blocks() {
		return fmt.Errorf("%w: block set of %d blocks for volume %d of group %s, which has %d", ErrInvalidConfig, blocks.Len(), vol, r.cfg.ID, g.Blocks())
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

// MarkChangedPages is MarkChanged at page granularity: it marks the
// PageSize pages of pages dirty, so that the next cycle sends only those
// pages of each block that holds one, not the whole block. pages is a set
// over every page of the volume, a short last page included — the
// ChangedPages of a delta.ScanResult. The same errors as MarkChanged: a set
// of the wrong length, an excluded volume or a nil set returns an error
// wrapping ErrInvalidConfig and marks nothing; after Remove or Close it
// returns ErrClosed.
func (r *Relationship) MarkChangedPages(vol int, pages *delta.Set) error {
	ti, err := r.markTarget(vol, pages, "page")
	if err != nil {
		return err
	}
	g := r.geoms[ti]
	if want := pageCount(g); pages.Len() != want {
		return fmt.Errorf("%w: page set of %d pages for volume %d of group %s, which has %d", ErrInvalidConfig, pages.Len(), vol, r.cfg.ID, want)
	}
	if err := r.markPageRuns(ti, pages); err != nil {
		if errors.Is(err, delta.ErrClosed) {
			return ErrClosed
		}
		return fmt.Errorf("replica: marking pages of volume %d of group %s: %w", vol, r.cfg.ID, err)
	}
	return nil
}

// markPageRuns marks the pages of pages, a set over every page of tracked
// volume ti, in the tracker, a run of pages at a time.
func (r *Relationship) markPageRuns(ti int, pages *delta.Set) error {
	size := r.geoms[ti].Size
	for start, count := range pages.Runs() {
		off := start * delta.PageSize
		end := min((start+count)*delta.PageSize, size)
		if err := r.tracker.Mark(ti, off, end-off); err != nil {
			return fmt.Errorf("pages %d..%d: %w", start, start+count-1, err)
		}
	}
	return nil
}

// pageCount is the number of PageSize pages of a volume of geometry g, a
// short last page included.
func pageCount(g delta.Geometry) int64 {
	return (g.Size + delta.PageSize - 1) / delta.PageSize
}

// markTarget checks what MarkChanged and MarkChangedPages share — volume
// vol configured and included, set not nil, relationship open — and
// returns the volume's index among the tracked ones.
func (r *Relationship) markTarget(vol int, set *delta.Set, unit string) (int, error) {
	if vol < 0 || vol >= len(r.cfg.Volumes) {
		return -1, fmt.Errorf("%w: volume %d of group %s: out of range (%d volumes)", ErrInvalidConfig, vol, r.cfg.ID, len(r.cfg.Volumes))
	}
	ti := -1
	for i, c := range r.included {
		if c == vol {
			ti = i
			break
		}
	}
	if ti < 0 {
		return -1, fmt.Errorf("%w: volume %d of group %s is excluded from replication", ErrInvalidConfig, vol, r.cfg.ID)
	}
	if set == nil {
		return -1, fmt.Errorf("%w: nil %s set for volume %d of group %s", ErrInvalidConfig, unit, vol, r.cfg.ID)
	}
	r.mu.Lock()
	closed := r.closed
	r.mu.Unlock()
	if closed {
		return -1, ErrClosed
	}
	return ti, nil
}
