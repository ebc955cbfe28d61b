package checkpoint

import (
	"context"
	"fmt"
	"io"

	"github.com/blockrep/blockrep/delta"
)

// Verify implements Group: it hashes every block of the point's view.
func (g *dirGroup) Verify(ctx context.Context, id delta.PointID) error {
	v, err := g.OpenPoint(ctx, id)
	if err != nil {
		return err
	}
	defer v.Close()
	g.mu.RLock()
	geoms := g.geoms
	g.mu.RUnlock()
	lists := make([]*delta.HashList, len(geoms))
	for i, r := range v.Volumes() {
		if lists[i], err = delta.HashVolume(ctx, r, geoms[i]); err != nil {
			return fmt.Errorf("checkpoint: verify %s: %w", id, err)
		}
	}
	want := v.Point().Hash
	if got := delta.GroupRoot(lists); got != want {
		return fmt.Errorf("%w: point %s: content hash %s, recorded %s", ErrVerifyFailed, id, got, want)
	}
	return nil
}

// ExportOption configures Export.
type ExportOption func(*exportOptions)

type exportOptions struct {
	skipZero bool
	chunk    int
}

// ExportSparse skips writing ranges that are all zero: use it when every
// destination is known to read as zeros (a new file truncated to size), to
// keep the exported images sparse.
func ExportSparse() ExportOption { return func(o *exportOptions) { o.skipZero = true } }

// Export implements Group.
func (g *dirGroup) Export(ctx context.Context, id delta.PointID, dst []io.WriterAt, opts ...ExportOption) error {
	o := exportOptions{chunk: 1 << 20}
	for _, opt := range opts {
		opt(&o)
	}
	v, err := g.OpenPoint(ctx, id)
	if err != nil {
		return err
	}
	defer v.Close()
	vols := v.Volumes()
	if len(dst) != len(vols) {
		return fmt.Errorf("%w: %d destinations for %d volumes", ErrVolumeMismatch, len(dst), len(vols))
	}
	buf := make([]byte, o.chunk)
	for i, r := range vols {
		for off := int64(0); off < r.Size(); off += int64(len(buf)) {
			if err := ctx.Err(); err != nil {
				return err
			}
			p := buf[:min(int64(len(buf)), r.Size()-off)]
			if err := readFull(r, p, off); err != nil {
				return fmt.Errorf("checkpoint: export volume %d: %w", i, err)
			}
			if o.skipZero && allZero(p) {
				continue
			}
			if _, err := dst[i].WriteAt(p, off); err != nil {
				return fmt.Errorf("checkpoint: export volume %d: %w", i, err)
			}
		}
	}
	return nil
}

func allZero(p []byte) bool {
	for _, b := range p {
		if b != 0 {
			return false
		}
	}
	return true
}
