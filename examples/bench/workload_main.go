package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/blockrep/blockrep/delta"
)

// Salts that make each workload's changes differ from the others'.
const (
	saltTracked = 100
	saltScan    = 200
	saltResync  = 300
	saltApply   = 400
	saltScale   = 500
)

// onePercent is the number of blocks a cycle's change touches: 1% of the
// main volume's 64 KiB blocks.
func (b *bench) onePercent() int64 { return max(1, b.cfg.size/blockSize/100) }

// initial: the first full copy, each round onto an empty replica.
func (b *bench) initial(ctx context.Context) (*workload, error) {
	wl := &workload{Name: "initial", Description: describe(
		"first full copy of the", formatSize(b.cfg.size), "volume onto an empty replica: blockrep Enable + InitialReplication",
		"vs rsync --whole-file vs the limit (the slower of reading+zstd-compressing the file on 2 cores and writing it with fsync).")}
	dst := filepath.Join(b.bDir, "disk.img")
	for r := range b.cfg.rounds {
		if err := os.RemoveAll(b.aStore); err != nil {
			return nil, err
		}
		if err := os.MkdirAll(b.aStore, 0o755); err != nil {
			return nil, err
		}
		if err := warm(b.aVol); err != nil {
			return nil, err
		}
		spec := b.spec("initial")
		spec.Profile = b.profile(fmt.Sprintf("initial-r%d", r))
		one := &row{}
		err := b.withReplica(ctx, b.aStore, b.profile(fmt.Sprintf("initial-r%d-replica", r)), one, func(srv *server) error {
			s, err := b.self.primaryRound(ctx, srv, spec)
			if err != nil {
				return err
			}
			b.aLast = s.result.Point
			one.add(s)
			return b.verifyA(srv)
		})
		if err != nil {
			return nil, err
		}
		s := one.samples[0]
		wl.side("blockrep").add(s)
		if b.rsync {
			if err := os.Remove(dst); err != nil && !os.IsNotExist(err) {
				return nil, err
			}
			if err := warm(b.bSrc); err != nil {
				return nil, err
			}
			s, err := b.rs.round(ctx, b.self, b.bSrc, b.bDir, true)
			if err != nil {
				return nil, err
			}
			if err := b.verifyB(); err != nil {
				return nil, err
			}
			wl.side("rsync").add(s)
		}
		limit, rc, w, err := initialLimit(b.aVol, filepath.Join(b.dir, "limit.img"), b.cfg.size)
		if err != nil {
			return nil, err
		}
		wl.side("limit").add(sample{seconds: limit})
		wl.side("limit: read+zstd").add(sample{seconds: rc})
		wl.side("limit: write+fsync").add(sample{seconds: w})
	}
	return wl, b.verifySources()
}

// tracked: 1% of the blocks written through the tracker, then a cycle.
func (b *bench) tracked(ctx context.Context) (*workload, error) {
	if err := b.ensureReplicated(ctx); err != nil {
		return nil, err
	}
	n := b.onePercent()
	wl := &workload{Name: "tracked", Description: fmt.Sprintf(
		"%d blocks (1%% of 64 KiB blocks), one 4 KiB write each at a random page, written through the tracker; "+
			"blockrep Cycle vs rsync --no-whole-file on the same change vs the limit (a plain Go loop: read, BLAKE3, "+
			"zstd and spool+fsync the written pages, then decompress, verify and write them into a replica file with fsync).", n)}
	err := b.withReplica(ctx, b.aStore, b.profile("tracked-replica"), wl.side("blockrep"), func(srv *server) error {
		for r := range b.cfg.rounds {
			salt := uint64(saltTracked + r)
			if err := warm(b.aVol, b.aStore); err != nil {
				return err
			}
			spec := b.spec("tracked")
			spec.ChangeSeed, spec.ChangeSalt, spec.ChangeBlocks = b.cfg.seed, salt, n
			spec.Profile = b.profile(fmt.Sprintf("tracked-r%d", r))
			s, err := b.self.primaryRound(ctx, srv, spec)
			if err != nil {
				return err
			}
			b.aLast = s.result.Point
			if err := b.verifyA(srv); err != nil {
				return err
			}
			wl.side("blockrep").add(s)
			ws := makeChange(b.cfg.seed, salt, b.cfg.size, n)
			if err := b.rsyncDelta(ctx, wl, ws); err != nil {
				return err
			}
			limit, err := cycleLimit(b.aVol, b.dir, b.cfg.size, ws)
			if err != nil {
				return err
			}
			wl.side("limit").add(sample{seconds: limit})
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return wl, b.verifySources()
}

// rsyncDelta applies ws to rsync's source and runs an rsync delta round.
func (b *bench) rsyncDelta(ctx context.Context, wl *workload, ws []write) error {
	if !b.rsync {
		return nil
	}
	if err := applyWrites(b.bSrc, ws); err != nil {
		return err
	}
	if err := warm(b.bSrc, b.bDir); err != nil {
		return err
	}
	s, err := b.rs.round(ctx, b.self, b.bSrc, b.bDir, false)
	if err != nil {
		return err
	}
	if err := b.verifyB(); err != nil {
		return err
	}
	wl.side("rsync").add(s)
	return nil
}

// scan: the same kind of change made by another program, found by a
// page-hash scan against the hashes kept from the last cycle.
func (b *bench) scan(ctx context.Context) (*workload, error) {
	if err := b.ensureReplicated(ctx); err != nil {
		return nil, err
	}
	// The hashes of the last cycle: the replica holds exactly this content.
	g, err := delta.NewGeometry(b.cfg.size, blockSize)
	if err != nil {
		return nil, err
	}
	f, err := os.Open(b.aVol)
	if err != nil {
		return nil, err
	}
	sr, err := delta.Scan(ctx, f, g, nil)
	f.Close()
	if err != nil {
		return nil, err
	}
	hb, err := sr.Hashes.MarshalBinary()
	if err != nil {
		return nil, err
	}
	if err := writeFileAtomic(b.aHashes, hb); err != nil {
		return nil, err
	}
	n := b.onePercent()
	wl := &workload{Name: "scan", Description: fmt.Sprintf(
		"the same kind of change (%d blocks, one 4 KiB page each) written by another program; blockrep scans the "+
			"volume's page hashes against those kept from the last cycle (the CLI's sync: delta.Scan, MarkChangedPages, Cycle, "+
			"keep the new hashes) vs rsync --no-whole-file.", n)}
	err = b.withReplica(ctx, b.aStore, b.profile("scan-replica"), wl.side("blockrep"), func(srv *server) error {
		for r := range b.cfg.rounds {
			ws := makeChange(b.cfg.seed, uint64(saltScan+r), b.cfg.size, n)
			if err := applyWrites(b.aVol, ws); err != nil {
				return err
			}
			if err := warm(b.aVol, b.aStore, b.aHashes); err != nil {
				return err
			}
			spec := b.spec("scan")
			spec.Hashes = b.aHashes
			spec.Profile = b.profile(fmt.Sprintf("scan-r%d", r))
			s, err := b.self.primaryRound(ctx, srv, spec)
			if err != nil {
				return err
			}
			b.aLast = s.result.Point
			if err := b.verifyA(srv); err != nil {
				return err
			}
			wl.side("blockrep").add(s)
			if err := b.rsyncDelta(ctx, wl, ws); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return wl, b.verifySources()
}

// resync: the same kind of change with no tracking at all; blockrep compares
// hash trees with the replica.
func (b *bench) resync(ctx context.Context) (*workload, error) {
	if err := b.ensureReplicated(ctx); err != nil {
		return nil, err
	}
	n := b.onePercent()
	wl := &workload{Name: "resync", Description: fmt.Sprintf(
		"%d blocks (1%%) changed behind blockrep's back with no tracking state: Relationship.Resynchronize "+
			"(both sides read and hash the whole volume, compare hash trees, then the page digests of the differing blocks, "+
			"send the differing pages) vs rsync --no-whole-file.", n)}
	err := b.withReplica(ctx, b.aStore, b.profile("resync-replica"), wl.side("blockrep"), func(srv *server) error {
		for r := range b.cfg.rounds {
			ws := makeChange(b.cfg.seed, uint64(saltResync+r), b.cfg.size, n)
			if err := applyWrites(b.aVol, ws); err != nil {
				return err
			}
			if err := warm(b.aVol, b.aStore); err != nil {
				return err
			}
			spec := b.spec("resync")
			spec.Tracker = ""
			spec.Profile = b.profile(fmt.Sprintf("resync-r%d", r))
			s, err := b.self.primaryRound(ctx, srv, spec)
			if err != nil {
				return err
			}
			b.aLast = s.result.Point
			if err := b.verifyA(srv); err != nil {
				return err
			}
			wl.side("blockrep").add(s)
			if err := b.rsyncDelta(ctx, wl, ws); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return wl, b.verifySources()
}
