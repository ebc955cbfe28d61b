package replica

import (
	"bytes"
	"context"
	"crypto/rand"
	"fmt"

	"github.com/blockrep/blockrep/delta"
	"github.com/zeebo/blake3"
)

// resyncPageDigestSize is the digest size a resynchronization asks for
// (see ResyncPagesQuery): six bytes a page keep the page round of the 1%
// case of BenchmarkResync1GiB1PercentDiff at about a third of a percent of
// the data it sends.
const resyncPageDigestSize = 6

// markDiffering marks dirty, in volume ti, the pages of the blocks diff
// that differ from the replica's point base: it asks the replica for the
// page digests of those blocks (ResyncPagesQuery), computes its own from
// the live volume meanwhile, and marks only the pages whose digests
// differ, so that the delta carries those pages rather than whole blocks.
//
// It is exact for the same reason the block comparison is: a page written
// after it was read here is marked by the tracker anyway.
func (r *Relationship) markDiffering(ctx context.Context, base delta.PointID, ti int, diff *delta.Set, res *ResyncResult) error {
	res.DifferingBlocks += diff.Count()
	if diff.Empty() {
		return nil
	}
	pages, err := r.differingPages(ctx, base, ti, diff, res)
	if err != nil {
		return err
	}
	res.DifferingPages += pages.Count()
	if err := r.markPageRuns(ti, pages); err != nil {
		return fmt.Errorf("replica: mark volume %s: %w", r.infos[ti].ID, err)
	}
	return nil
}

// differingPages returns the set, over every page of volume ti, of the
// pages of blocks diff whose digests differ from the replica's.
func (r *Relationship) differingPages(ctx context.Context, base delta.PointID, ti int, diff *delta.Set, res *ResyncResult) (*delta.Set, error) {
	g := r.geoms[ti]
	vol := r.cfg.Volumes[r.included[ti]].Volume
	var key [ResyncPageKeySize]byte
	rand.Read(key[:])
	h, err := blake3.NewKeyed(key[:])
	if err != nil {
		return nil, err
	}
	const size = resyncPageDigestSize
	pages := delta.NewSet(pageCount(g))
	buf := make([]byte, g.BlockSize)
	var local []byte
	for chunk := range chunkSet(diff, resyncPageBlocks(g)) {
		enc, err := chunk.AppendBinary(nil)
		if err != nil {
			return nil, err
		}
		q := resyncPagesQueryMsg{Group: r.cfg.ID, Point: base, Volume: uint16(ti), Key: key, Size: size, Blocks: enc}
		if err := checkMessage(q); err != nil {
			return nil, err
		}
		frame := appendMessage(make([]byte, 0, 64+len(enc)), q)
		if err := r.conn.Send(ctx, frame); err != nil {
			return nil, fmt.Errorf("replica: resync pages query: %w", err)
		}
		// The replica reads and hashes its blocks while this side does.
		local = local[:0]
		for blk := range chunk.All() {
			off, n := g.BlockBounds(blk)
			if err := readFull(vol, buf[:n], off); err != nil {
				return nil, fmt.Errorf("replica: read block %d of volume %s: %w", blk, r.infos[ti].ID, err)
			}
			local = appendPageDigests(local, h, buf[:n], size)
		}
		a, rbuf, err := expectReply[resyncPageHashesMsg](ctx, r.conn, r.buf)
		r.buf = rbuf
		if err != nil {
			return nil, fmt.Errorf("replica: resync pages query of volume %s: %w", r.infos[ti].ID, refusal(err))
		}
		if a.Group != q.Group || a.Point != base || a.Volume != q.Volume || len(a.Digests) != len(local) {
			return nil, fmt.Errorf("%w: resync page answer %s/%s volume %d with %d digest bytes, want %s/%s volume %d with %d",
				ErrProtocol, a.Group, a.Point, a.Volume, len(a.Digests), q.Group, base, q.Volume, len(local))
		}
		n := int64(len(frame)) + int64(resyncPageHashesSize(a))
		res.HashRounds++
		res.HashBytes += n
		res.PageHashBytes += n
		i := 0
		for blk := range chunk.All() {
			off, n := g.BlockBounds(blk)
			first := off / delta.PageSize
			for p := range int64((n + delta.PageSize - 1) / delta.PageSize) {
				if !bytes.Equal(local[i:i+size], a.Digests[i:i+size]) {
					pages.Add(first + p)
				}
				i += size
			}
		}
	}
	return pages, nil
}

// resyncPageHashesSize is the length of a's frame: that of the frame
// without digests (whatever the framing adds) and the digests.
func resyncPageHashesSize(a resyncPageHashesMsg) int {
	return len(appendMessage(nil, resyncPageHashesMsg{Group: a.Group})) + len(a.Digests)
}
