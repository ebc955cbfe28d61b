package delta

import "iter"

// Ranges yields the byte ranges of its volume that the record changes, as
// (offset, length) in ascending order: the selected pages of a page
// record (consecutive pages merged), the whole block of a data or copy
// record, the whole run of a zero record. g is the volume's geometry
// (Header.Geometry(r.Volume)). An applier that keeps undo data saves these
// ranges of the target before it writes the record.
func (r *Record) Ranges(g Geometry) iter.Seq2[int64, int64] {
	return func(yield func(int64, int64) bool) {
		off, blen := g.BlockBounds(r.Block)
		if r.Pages == nil {
			end, n := g.BlockBounds(r.Block + r.Count - 1)
			yield(off, end+int64(n)-off)
			return
		}
		stop := false
		_ = pageRuns(r.Pages, blen, func(o, n int) error {
			if !stop && !yield(off+int64(o), int64(n)) {
				stop = true
			}
			return nil
		})
	}
}
