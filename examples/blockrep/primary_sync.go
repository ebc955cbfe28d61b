package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"time"

	"github.com/blockrep/blockrep/checkpoint"
	"github.com/blockrep/blockrep/delta"
	"github.com/blockrep/blockrep/replica"
)

// syncResult is what one sync did; its JSON is the contract of
// "blockrep sync --json".
type syncResult struct {
	Group      string `json:"group"`
	Point      string `json:"point"`
	Initial    bool   `json:"initial"`
	Exported   bool   `json:"exported,omitempty"` // written to offline media, not sent
	Blocks     int64  `json:"blocks"`
	BytesSent  int64  `json:"bytes_sent"`
	DurationMS int64  `json:"duration_ms"`
}

// errSuspended and errResyncRequired refuse a sync the group's state does
// not allow.
var (
	errSuspended      = errors.New("replication is suspended (blockrep resume)")
	errResyncRequired = errors.New("resynchronization is required (blockrep resync)")
	errNoRelationship = errors.New("the relationship could not be reattached after a failed cycle; run the command again")
)

// scanVolumes compares every volume with the page hashes of the last
// acknowledged cycle and returns what changed.
func (g *primaryGroup) scanVolumes(ctx context.Context) ([]*delta.ScanResult, error) {
	out := make([]*delta.ScanResult, len(g.files))
	for i, f := range g.files {
		geom := delta.Geometry{Size: g.st.Sizes[i], BlockSize: g.st.BlockSize}
		var prev *delta.PageHashes
		if !g.st.LastPoint.IsZero() || !g.st.Exported.IsZero() {
			var err error
			if prev, err = g.loadHashes(i, geom); err != nil {
				return nil, err
			}
		}
		res, err := delta.Scan(ctx, f, geom, prev)
		if err != nil {
			return nil, fmt.Errorf("scanning %s: %w", f.Name(), err)
		}
		out[i] = res
	}
	return out, nil
}

// loadHashes reads volume i's page hashes; nil when there are none (every
// page then counts as changed).
func (g *primaryGroup) loadHashes(i int, geom delta.Geometry) (*delta.PageHashes, error) {
	pages := (geom.Size + delta.PageSize - 1) / delta.PageSize
	b, err := readFileLimit(g.dir.hashesPath(g.st.Group, i), pages*16+4096)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	h, _, err := delta.UnmarshalPageHashes(b, pages)
	if err != nil || h.Geometry().Size != geom.Size {
		// Damaged or stale hashes only cost a full comparison: every page
		// counts as changed and is sent again.
		return nil, nil
	}
	return h, nil
}

// saveHashes keeps the scans' page hashes for the next sync.
func (g *primaryGroup) saveHashes(scans []*delta.ScanResult) error {
	for i, s := range scans {
		b, err := s.Hashes.MarshalBinary()
		if err != nil {
			return err
		}
		if err := writeFileAtomic(g.dir.hashesPath(g.st.Group, i), b); err != nil {
			return err
		}
	}
	return nil
}

// mark marks the pages the scans found changed, so that the cycle sends
// those pages, not the whole blocks that hold them.
func (g *primaryGroup) mark(scans []*delta.ScanResult) error {
	for i, s := range scans {
		if s.ChangedPages.Empty() {
			continue
		}
		if err := g.rel.MarkChangedPages(i, s.ChangedPages); err != nil {
			return err
		}
	}
	return nil
}

// sync runs one cycle — the initial replication while none was
// acknowledged — after finding the changes made to the files since the
// last one, and records its outcome in the state directory. scheduled says
// whether it is one of run's cycles (a failure then counts as missed).
func (g *primaryGroup) sync(ctx context.Context, scheduled bool) (syncResult, error) {
	start := time.Now()
	out := syncResult{Group: g.st.Group}
	if g.st.Stats.WindowStart.IsZero() {
		g.st.Stats.WindowStart = start
	}
	if g.rel == nil {
		return out, errNoRelationship
	}
	switch g.rel.State() {
	case replica.Suspended:
		return out, errSuspended
	case replica.ResynchronizationRequired:
		g.saveState()
		return out, errResyncRequired
	}
	initial := g.st.LastPoint.IsZero()
	res, scans, err := g.cycle(ctx)
	if id, at := g.exported(); err == nil && !id.IsZero() {
		// A media export: the copy waits on the media for its import;
		// its hashes are what the replica will hold.
		if err := g.saveHashes(scans); err != nil {
			return out, err
		}
		g.st.Exported, g.st.ExportedTime, g.st.PendingPoints = id, at, nil
		if err := g.saveState(); err != nil {
			return out, err
		}
		out.Point, out.Initial, out.Exported = id.String(), true, true
		out.Blocks, out.BytesSent = res.Blocks, 0
		out.DurationMS = time.Since(start).Milliseconds()
		return out, nil
	}
	if err != nil {
		g.st.Stats.failure(err, scheduled)
		if serr := g.saveState(); serr != nil {
			err = errors.Join(err, serr)
		}
		return out, err
	}
	if err := g.commit(res.Point, res.Time, scans); err != nil {
		return out, err
	}
	g.st.Stats.success(time.Now(), res.StreamBytes, res.Latency)
	if err := g.saveState(); err != nil {
		return out, err
	}
	out.Point = res.Point.String()
	out.Initial = initial
	out.Blocks = res.Blocks
	out.BytesSent = res.StreamBytes
	out.DurationMS = time.Since(start).Milliseconds()
	return out, nil
}

// cycle scans, marks and sends.
func (g *primaryGroup) cycle(ctx context.Context) (replica.CycleResult, []*delta.ScanResult, error) {
	scans, err := g.scanVolumes(ctx)
	if err != nil {
		return replica.CycleResult{}, nil, err
	}
	if g.seedResync {
		rs, err := g.rel.Resynchronize(ctx)
		res := replica.CycleResult{Point: rs.Point, Time: rs.Time, Blocks: rs.Blocks, StreamBytes: rs.StreamBytes, Latency: rs.Latency, Hash: rs.Hash}
		if err == nil {
			g.seedResync = false
		}
		return res, scans, err
	}
	if s := g.rel.State(); s == replica.InitialReplicationPending || s == replica.InitialReplicationInProgress {
		wasExported := !g.st.Exported.IsZero()
		res, err := g.rel.InitialReplication(ctx)
		if err != nil || !wasExported {
			return res, scans, err
		}
		if id, _ := g.rel.ExportedPoint(); !id.IsZero() {
			return res, scans, err
		}
		// The replica imported the media: the exported point is the
		// last acknowledged one, and the files' changes since the export
		// (the scans compared with the export's hashes) go now.
		g.st.LastPoint, g.st.LastTime, g.st.Exported = g.st.Exported, g.st.ExportedTime, delta.PointID{}
		if err := g.saveState(); err != nil {
			return res, scans, err
		}
	}
	if err := g.mark(scans); err != nil {
		return replica.CycleResult{}, nil, err
	}
	res, err := g.rel.Cycle(ctx)
	for try := 0; try < 3 && err != nil && errors.Is(err, checkpoint.ErrBaseMismatch) && len(g.st.PendingPoints) > 0; try++ {
		// The replica committed a point while this cycle was on its way:
		// the apply of an earlier process's delta, finishing after that
		// process died. Ask again: the replica's status now names it.
		res, err = g.rel.Cycle(ctx)
	}
	if err == nil || g.rel.State() != replica.ResynchronizationRequired {
		return res, scans, err
	}
	// The replica is at a point this relationship does not know: one an
	// earlier process announced and never heard acknowledged, if the
	// replica committed it. Reattach on each, newest first.
	for _, pending := range slices.Clone(g.st.PendingPoints) {
		if pending == g.st.LastPoint {
			continue
		}
		if rerr := g.host.Remove(ctx, g.st.Group); rerr != nil {
			return res, scans, errors.Join(err, rerr)
		}
		g.rel = nil
		if rerr := g.reattach(ctx, pending); rerr != nil {
			return res, scans, errors.Join(err, rerr)
		}
		if err := g.mark(scans); err != nil {
			return replica.CycleResult{}, nil, err
		}
		res, err = g.rel.Cycle(ctx)
		if err == nil || g.rel.State() != replica.ResynchronizationRequired {
			return res, scans, err
		}
	}
	return res, scans, err
}

// exported returns the point a media initial replication exported and
// the replica has not imported (zero when none).
func (g *primaryGroup) exported() (delta.PointID, time.Time) {
	if g.rel == nil {
		return delta.PointID{}, time.Time{}
	}
	return g.rel.ExportedPoint()
}

// commit records an acknowledged point: the page hashes first, then the
// state naming the point. A crash between the two leaves the point pending
// (the next cycle builds on it) and the hashes newer than the state says,
// which only makes the next scan find what came after.
func (g *primaryGroup) commit(point delta.PointID, at time.Time, scans []*delta.ScanResult) error {
	if err := g.saveHashes(scans); err != nil {
		return err
	}
	g.st.LastPoint, g.st.LastTime, g.st.PendingPoints = point, at, nil
	return nil
}

// resync resynchronizes the group and records the outcome.
func (g *primaryGroup) resync(ctx context.Context) (replica.ResyncResult, error) {
	if g.st.Stats.WindowStart.IsZero() {
		g.st.Stats.WindowStart = time.Now()
	}
	scans, err := g.scanVolumes(ctx)
	if err != nil {
		return replica.ResyncResult{}, err
	}
	if g.rel == nil {
		return replica.ResyncResult{}, errNoRelationship
	}
	res, err := g.rel.Resynchronize(ctx)
	if err != nil {
		g.st.Stats.failure(err, false)
		if serr := g.saveState(); serr != nil {
			err = errors.Join(err, serr)
		}
		return res, err
	}
	if err := g.commit(res.Point, res.Time, scans); err != nil {
		return res, err
	}
	g.st.Stats.success(time.Now(), res.StreamBytes, res.Latency)
	return res, g.saveState()
}
