package replica

import (
	"context"
	"fmt"
	"io"

	"github.com/blockrep/blockrep/delta"
	"github.com/zeebo/blake3"
)

// resyncPagesQuery answers a ResyncPagesQuery with the keyed digests of
// every page of the blocks it names, read from the latest point.
func (s *session) resyncPagesQuery(ctx context.Context, m resyncPagesQueryMsg) error {
	if !s.authorize(ctx, m.Group) {
		return nil
	}
	ds, code, err := s.resyncPageDigests(ctx, m)
	if err != nil {
		s.log.Warn("resync pages query refused", "group", m.Group, "err", err)
		s.nack(ctx, code, err.Error())
		return nil
	}
	return sendMsg(ctx, s.conn, resyncPageHashesMsg{Group: m.Group, Point: m.Point, Volume: m.Volume, Digests: ds})
}

func (s *session) resyncPageDigests(ctx context.Context, m resyncPagesQueryMsg) ([]byte, Code, error) {
	g, code, err := s.resyncPoint(ctx, "resync pages query", m.Group, m.Point, m.Volume)
	if err != nil {
		return nil, code, err
	}
	geom := g.Spec().Geometries()[m.Volume]
	blocks, n, err := delta.UnmarshalSet(m.Blocks, geom.Blocks())
	if err != nil || n != len(m.Blocks) || blocks.Len() != geom.Blocks() {
		return nil, CodeProtocol, fmt.Errorf("%w: block set of volume %d with %d blocks: %v", ErrProtocol, m.Volume, geom.Blocks(), err)
	}
	if c, limit := blocks.Count(), resyncPageBlocks(geom); c > limit {
		return nil, CodeLimit, fmt.Errorf("%w: page digests of %d blocks asked, at most %d", delta.ErrLimit, c, limit)
	}
	h, err := blake3.NewKeyed(m.Key[:])
	if err != nil {
		return nil, CodeInternal, err
	}
	view, err := g.OpenPoint(ctx, m.Point)
	if err != nil {
		return nil, codeOf(err), err
	}
	defer view.Close()
	vol := view.Volumes()[m.Volume]
	buf := make([]byte, geom.BlockSize)
	out := make([]byte, 0, int(blocks.Count())*geom.BlockSize/delta.PageSize*int(m.Size))
	for blk := range blocks.All() {
		if err := ctx.Err(); err != nil {
			return nil, CodeInternal, err
		}
		off, n := geom.BlockBounds(blk)
		if err := readFull(vol, buf[:n], off); err != nil {
			return nil, CodeInternal, fmt.Errorf("replica: read block %d of volume %d of point %s: %w", blk, m.Volume, m.Point, err)
		}
		out = appendPageDigests(out, h, buf[:n], int(m.Size))
	}
	return out, 0, nil
}

// appendPageDigests appends the first size bytes of the keyed hash (h's
// key) of every page of block, a short last page hashed over its bytes.
func appendPageDigests(dst []byte, h *blake3.Hasher, block []byte, size int) []byte {
	var sum [32]byte
	for p := 0; p < len(block); p += delta.PageSize {
		h.Reset()
		h.Write(block[p:min(p+delta.PageSize, len(block))])
		dst = append(dst, h.Sum(sum[:0])[:size]...)
	}
	return dst
}

// readFull reads len(p) bytes at off; io.EOF together with a full read,
// which io.ReaderAt allows at the end of a volume, is no error.
func readFull(r io.ReaderAt, p []byte, off int64) error {
	n, err := r.ReadAt(p, off)
	if n == len(p) {
		return nil
	}
	if err == nil || err == io.EOF {
		err = io.ErrUnexpectedEOF
	}
	return err
}
