package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/blockrep/blockrep/checkpoint"
	"github.com/blockrep/blockrep/checkpoint/vfs"
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
		start := time.Now()
		s, err := b.self.blockrepRound(ctx, v.store, b.scaleSpec(v, "initial"))
		if err != nil {
			return nil, fmt.Errorf("initial replication of %s: %w", formatSize(v.size), err)
		}
		v.last = s.result.Point
		b.rep.Notes = append(b.rep.Notes, fmt.Sprintf("scale: initial replication of the %s sparse volume (unmeasured setup) took %.1f s (child processes included), peak RSS %s.",
			formatSize(v.size), time.Since(start).Seconds(), fmtBytes(float64(s.rss))))
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
	for r := range b.cfg.rounds {
		salt := uint64(saltScale + r)
		for _, side := range []struct {
			v    *scaleVolume
			name string
		}{{big, bigSide}, {ref, refSide}} {
			spec := b.scaleSpec(side.v, "tracked")
			spec.ChangeSeed, spec.ChangeSalt, spec.ChangeBlocks = b.cfg.seed, salt, n
			if side.v == big {
				spec.Profile = b.profile("scale", r)
			}
			s, err := b.self.blockrepRound(ctx, side.v.store, spec)
			if err != nil {
				return nil, err
			}
			side.v.last = s.result.Point
			wl.side(side.name).add(s)
		}
		if err := verifyStore(ctx, ref.store, mainGroup, ref.last, ref.vol, ref.size); err != nil {
			return nil, err
		}
		changed := delta.NewSet(geom.Blocks())
		for _, w := range makeChange(b.cfg.seed, salt, big.size, n) {
			changed.Add(w.off / blockSize)
		}
		if err := written.Union(changed); err != nil {
			return nil, err
		}
		if err := verifySparse(ctx, big, list, changed, written); err != nil {
			return nil, err
		}
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
// every block ever written equals the primary's byte for byte, and the
// point's content hash is the primary's (its block hashes updated with the
// blocks changed this round).
func verifySparse(ctx context.Context, v *scaleVolume, list *delta.HashList, changed, written *delta.Set) (err error) {
	f, err := os.Open(v.vol)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := delta.UpdateHashes(ctx, list, f, changed); err != nil {
		return err
	}
	store, err := checkpoint.Open(vfs.OS(), v.store)
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, store.Close()) }()
	g, err := store.Group(ctx, mainGroup)
	if err != nil {
		return err
	}
	latest, err := g.Latest(ctx)
	if err != nil {
		return err
	}
	if latest.ID.String() != v.last {
		return fmt.Errorf("scale: replica's latest point is %s, the primary's last acknowledged %s", latest.ID, v.last)
	}
	if want := delta.GroupRoot([]*delta.HashList{list}); latest.Hash != want {
		return fmt.Errorf("scale: replica's content hash %s, the primary's %s", latest.Hash, want)
	}
	view, err := g.OpenPoint(ctx, latest.ID)
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, view.Close()) }()
	rv := view.Volumes()[0]
	pa, pb := make([]byte, blockSize), make([]byte, blockSize)
	for blk := range written.All() {
		if _, err := f.ReadAt(pa, blk*blockSize); err != nil {
			return err
		}
		if _, err := rv.ReadAt(pb, blk*blockSize); err != nil {
			return err
		}
		if string(pa) != string(pb) {
			return fmt.Errorf("scale: replica's block %d differs from the primary's", blk)
		}
	}
	return nil
}
