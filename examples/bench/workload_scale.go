package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/blockrep/blockrep/delta"
)

// scaleVolume is one of the scale workload's two sparse volumes.
type scaleVolume struct {
	vol, store, tracker, last string
	size                      int64
}

// scale: a cycle of a large sparse volume with 0.1% of its blocks dirty, vs
// the same change (as many blocks) on a volume of -size.
func (b *bench) scale(ctx context.Context) (*workload, error) {
	dir := filepath.Join(b.dir, "scale")
	big := &scaleVolume{vol: filepath.Join(dir, "big.img"), store: filepath.Join(dir, "big-store"), tracker: filepath.Join(dir, "big.state"), size: b.cfg.scaleSize}
	ref := &scaleVolume{vol: filepath.Join(dir, "ref.img"), store: filepath.Join(dir, "ref-store"), tracker: filepath.Join(dir, "ref.state"), size: b.cfg.size}
	n := max(1, b.cfg.scaleSize/blockSize/1000)
	bigSide, refSide := "blockrep "+formatSize(big.size), "blockrep "+formatSize(ref.size)
	wl := &workload{Name: "scale", Description: fmt.Sprintf(
		"%s sparse volume with 0.1%% of its blocks (%d) dirty, one 4 KiB write each through the tracker: cycle time and peak RSS, "+
			"vs the same change (%d blocks) on a %s sparse volume. Not warmed (sparse: only the written pages exist). "+
			"Verified byte for byte on every block ever written and by the replica's content hash (GroupRoot of the "+
			"primary's block hashes) for the rest.", formatSize(big.size), n, n, formatSize(ref.size))}
	for _, v := range []*scaleVolume{big, ref} {
		if err := os.MkdirAll(v.store, 0o755); err != nil {
			return nil, err
		}
		if err := createSparse(v.vol, v.size); err != nil {
			return nil, err
		}
		// The first copy is setup: its replica process is not the one
		// measured, so that its peak RSS does not count as a cycle's.
		start := time.Now()
		one := &row{}
		err := b.withReplica(ctx, v.store, "", one, func(srv *server) error {
			s, err := b.self.primaryRound(ctx, srv, b.scaleSpec(v, "initial"))
			v.last = s.result.Point
			one.add(s)
			return err
		})
		if err != nil {
			return nil, fmt.Errorf("initial replication of %s: %w", formatSize(v.size), err)
		}
		b.rep.Notes = append(b.rep.Notes, fmt.Sprintf("scale: initial replication of the %s sparse volume (unmeasured setup) took %.1f s (process start included), peak RSS primary %s, replica %s.",
			formatSize(v.size), time.Since(start).Seconds(), fmtBytes(float64(one.samples[0].parts["primary"])), fmtBytes(float64(one.samples[0].parts["replica"]))))
	}
	geom, err := delta.NewGeometry(big.size, blockSize)
	if err != nil {
		return nil, err
	}
	list, err := hashFile(ctx, big.vol, geom)
	if err != nil {
		return nil, err
	}
	written := delta.NewSet(geom.Blocks())
	bigRow, refRow := wl.side(bigSide), wl.side(refSide)
	err = b.withReplica(ctx, big.store, b.profile("scale-replica"), bigRow, func(bigSrv *server) error {
		return b.withReplica(ctx, ref.store, "", refRow, func(refSrv *server) error {
			for r := range b.cfg.rounds {
				salt := uint64(saltScale + r)
				for _, side := range []struct {
					v   *scaleVolume
					srv *server
					row *row
				}{{big, bigSrv, bigRow}, {ref, refSrv, refRow}} {
					spec := b.scaleSpec(side.v, "tracked")
					spec.ChangeSeed, spec.ChangeSalt, spec.ChangeBlocks = b.cfg.seed, salt, n
					if side.v == big {
						spec.Profile = b.profile(fmt.Sprintf("scale-r%d", r))
					}
					s, err := b.self.primaryRound(ctx, side.srv, spec)
					if err != nil {
						return err
					}
					side.v.last = s.result.Point
					side.row.add(s)
				}
				if _, err := refSrv.verify(verifyRequest{Group: mainGroup, Point: ref.last, Volume: ref.vol, Size: ref.size}); err != nil {
					return err
				}
				if err := verifySparse(ctx, bigSrv, big, list, makeChange(b.cfg.seed, salt, big.size, n), written); err != nil {
					return err
				}
			}
			return nil
		})
	})
	if err != nil {
		return nil, err
	}
	return wl, nil
}

func (b *bench) scaleSpec(v *scaleVolume, mode string) childSpec {
	return childSpec{Mode: mode, Certs: b.certs, Insecure: b.cfg.insecure, Group: mainGroup,
		Volume: v.vol, Size: v.size, Tracker: v.tracker, Last: v.last}
}

func hashFile(ctx context.Context, path string, g delta.Geometry) (*delta.HashList, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return delta.HashVolume(ctx, f, g)
}

// verifySparse checks the big volume's replica: the latest point is v.last,
// every block ever written (this round's change added to written) equals the
// primary's byte for byte, and the point's content hash is the primary's
// (GroupRoot of its block hashes, updated with the blocks this round changed).
func verifySparse(ctx context.Context, srv *server, v *scaleVolume, list *delta.HashList, ws []write, written *delta.Set) error {
	changed := delta.NewSet(written.Len())
	for _, w := range ws {
		changed.Add(w.off / blockSize)
	}
	if err := written.Union(changed); err != nil {
		return err
	}
	f, err := os.Open(v.vol)
	if err != nil {
		return err
	}
	err = delta.UpdateHashes(ctx, list, f, changed)
	f.Close()
	if err != nil {
		return err
	}
	blocks := make([]int64, 0, written.Count())
	for blk := range written.All() {
		blocks = append(blocks, blk)
	}
	hash, err := srv.verify(verifyRequest{Group: mainGroup, Point: v.last, Volume: v.vol, Size: v.size, Blocks: blocks})
	if err != nil {
		return err
	}
	if want := delta.GroupRoot([]*delta.HashList{list}).String(); hash != want {
		return fmt.Errorf("scale: the replica's content hash is %s, the primary's %s", hash, want)
	}
	return nil
}
