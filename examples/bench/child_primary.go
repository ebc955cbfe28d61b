package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync/atomic"
	"time"

	"github.com/blockrep/blockrep/delta"
	"github.com/blockrep/blockrep/replica"
)

// runPrimary runs one blockrep operation of the primary host against the
// replica at spec.Addr and reports its time (the operation alone, from the
// host's view: setting the host up and reattaching are not counted) and the
// bytes its connection carried.
//
// Modes: "initial" enables the group and sends the first full copy; "tracked"
// reattaches with the persistent tracker, writes the round's change through
// the relationship's volume, then runs a cycle; "scan" reattaches, finds what
// another program changed by a page-hash scan against the hashes kept from the
// last cycle, marks it and runs a cycle, then keeps the new hashes; "resync"
// reattaches without tracking and resynchronizes.
func runPrimary(ctx context.Context, spec childSpec) (childResult, error) {
	var res childResult
	tr, err := newTransport(spec.Certs, primaryName, spec.Insecure)
	if err != nil {
		return res, err
	}
	var wire atomic.Int64
	ph, err := replica.NewPrimaryHost(replica.PrimaryConfig{Transport: countingTransport{Transport: tr, n: &wire}})
	if err != nil {
		return res, err
	}
	defer ph.Close()
	f, err := os.OpenFile(spec.Volume, os.O_RDWR, 0)
	if err != nil {
		return res, err
	}
	defer f.Close()
	cfg := replica.GroupConfig{
		ID:        spec.Group,
		Volumes:   []replica.VolumeConfig{{Name: "disk", Volume: f, Size: spec.Size}},
		Replica:   spec.Addr,
		BlockSize: blockSize,
	}
	var last delta.PointID
	if spec.Last != "" {
		if last, err = delta.ParsePointID(spec.Last); err != nil {
			return res, err
		}
	}
	if spec.Tracker != "" && spec.Mode != "resync" {
		open := delta.OpenStateFile
		if spec.Mode == "initial" {
			open = delta.CreateStateFile
		}
		if cfg.TrackerState, err = open(spec.Tracker); err != nil {
			return res, err
		}
	}
	var rel *replica.Relationship
	if spec.Mode != "initial" {
		if rel, err = ph.Reattach(ctx, cfg, last); err != nil {
			cfg.TrackerState.Close()
			return res, err
		}
	}
	stop, err := startProfile(spec.Profile)
	if err != nil {
		return res, err
	}
	var start time.Time
	switch spec.Mode {
	case "initial":
		start = time.Now()
		if rel, err = ph.Enable(ctx, cfg); err != nil {
			cfg.TrackerState.Close()
			break
		}
		var cr replica.CycleResult
		cr, err = rel.InitialReplication(ctx)
		res.Point, res.Blocks, res.StreamBytes = cr.Point.String(), cr.Blocks, cr.StreamBytes
	case "tracked":
		if st := rel.State(); st != replica.Replicating {
			err = fmt.Errorf("reattached relationship is %s, not Replicating", st)
			break
		}
		vol := rel.Volume(0)
		for _, w := range makeChange(spec.ChangeSeed, spec.ChangeSalt, spec.Size, spec.ChangeBlocks) {
			if _, err = vol.WriteAt(w.data, w.off); err != nil {
				break
			}
		}
		if err == nil {
			err = f.Sync() // as the other sides' writers do: no write-back inside the measurement
		}
		if err != nil {
			break
		}
		wire.Store(0)
		start = time.Now()
		var cr replica.CycleResult
		cr, err = rel.Cycle(ctx)
		res.Point, res.Blocks, res.StreamBytes = cr.Point.String(), cr.Blocks, cr.StreamBytes
	case "scan":
		start = time.Now()
		var cr replica.CycleResult
		cr, err = scanCycle(ctx, rel, f, spec)
		res.Point, res.Blocks, res.StreamBytes = cr.Point.String(), cr.Blocks, cr.StreamBytes
	case "resync":
		start = time.Now()
		var rr replica.ResyncResult
		rr, err = rel.Resynchronize(ctx)
		res.Point, res.Blocks, res.StreamBytes, res.HashBytes = rr.Point.String(), rr.Blocks, rr.StreamBytes, rr.HashBytes
	default:
		err = fmt.Errorf("unknown mode %q", spec.Mode)
	}
	res.Seconds = time.Since(start).Seconds()
	stop()
	res.WireBytes = wire.Load()
	return res, err
}

// scanCycle is what the CLI's sync does for changes made by other programs:
// scan the volume's pages against the hashes kept from the last cycle, mark
// the changed pages (so that the cycle sends those pages, not their whole
// blocks), run a cycle, and keep the new hashes once the replica
// acknowledged it.
func scanCycle(ctx context.Context, rel *replica.Relationship, f *os.File, spec childSpec) (replica.CycleResult, error) {
	g, err := delta.NewGeometry(spec.Size, blockSize)
	if err != nil {
		return replica.CycleResult{}, err
	}
	b, err := os.ReadFile(spec.Hashes)
	if err != nil {
		return replica.CycleResult{}, err
	}
	prev, _, err := delta.UnmarshalPageHashes(b, g.Size/delta.PageSize+1)
	if err != nil {
		return replica.CycleResult{}, err
	}
	sr, err := delta.Scan(ctx, f, g, prev)
	if err != nil {
		return replica.CycleResult{}, err
	}
	if sr.Blocks.Empty() {
		return replica.CycleResult{}, errors.New("the scan found no change")
	}
	if err := rel.MarkChangedPages(0, sr.ChangedPages); err != nil {
		return replica.CycleResult{}, err
	}
	cr, err := rel.Cycle(ctx)
	if err != nil {
		return cr, err
	}
	next, err := sr.Hashes.MarshalBinary()
	if err != nil {
		return cr, err
	}
	return cr, writeFileAtomic(spec.Hashes, next)
}
