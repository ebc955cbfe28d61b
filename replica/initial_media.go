package replica

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/blockrep/blockrep/delta"
	"github.com/blockrep/blockrep/transport/media"
)

// Labels a Media export writes into the media manifest, for
// ReplicaHost.Import: the group and point the stream makes, and the
// group's retention (which the delta header does not carry), so that
// Import can create a group Enable did not.
const (
	labelGroup        = "blockrep.group"
	labelPoint        = "blockrep.point"
	labelRetentionN   = "blockrep.retention.additional"
	labelRetentionGap = "blockrep.retention.spacing"
	labelRetentionApp = "blockrep.retention.keep-app"
)

// initialState is what a relationship knows of an initial replication
// from a copy: the point a Media export wrote and the replica has not
// imported yet (guarded by Relationship.mu), and the progress reporter of
// a Seed comparison (guarded by the op slot).
type initialState struct {
	exported     delta.PointID // zero unless an export awaits its import
	exportedAt   time.Time     // the export's freeze instant
	exportBlocks int64
	exportBytes  int64
	trackingLost bool // ReattachExported lost the tracking: resynchronize after the import
	progress     *seedProgress
}

// String returns "Network", "Media" or "Seed".
func (m InitialMode) String() string {
	switch m {
	case Network:
		return "Network"
	case Media:
		return "Media"
	case Seed:
		return "Seed"
	}
	return fmt.Sprintf("InitialMode(%d)", uint8(m))
}

// MarshalText implements encoding.TextMarshaler: the mode's name.
func (m InitialMode) MarshalText() ([]byte, error) {
	if m > Seed {
		return nil, fmt.Errorf("%w: unknown initial replication mode %d", ErrInvalidConfig, uint8(m))
	}
	return []byte(m.String()), nil
}

// UnmarshalText implements encoding.TextUnmarshaler, accepting the names
// String returns.
func (m *InitialMode) UnmarshalText(b []byte) error {
	for _, c := range []InitialMode{Network, Media, Seed} {
		if c.String() == string(b) {
			*m = c
			return nil
		}
	}
	return fmt.Errorf("%w: unknown initial replication mode %q", ErrInvalidConfig, b)
}

// validate checks the mode and its settings.
func (i *InitialReplication) validate() error {
	switch i.Mode {
	case Network, Seed:
	case Media:
		if i.MediaDir == "" {
			return errors.New("initial replication mode Media needs a MediaDir")
		}
	default:
		return fmt.Errorf("initial replication mode %d is unknown", uint8(i.Mode))
	}
	if n := i.MediaPartSize; n != 0 && (n < media.MinPartSize || n > media.MaxPartSize) {
		return fmt.Errorf("media part size %d outside [%d, %d]", n, int64(media.MinPartSize), int64(media.MaxPartSize))
	}
	return nil
}

// initialWaitError is the ErrSeedMissing of an initial replication from a
// copy the replica does not hold yet; Health turns it into a Warning with
// its reason.
type initialWaitError struct {
	mode  InitialMode
	group string
	point delta.PointID // the exported point (Media)
}

func (e *initialWaitError) Error() string {
	return fmt.Sprintf("%v: group %q: %s", ErrSeedMissing, e.group, e.reason())
}

// Unwrap returns ErrSeedMissing.
func (e *initialWaitError) Unwrap() error { return ErrSeedMissing }

func (e *initialWaitError) reason() string {
	if e.mode == Media {
		return fmt.Sprintf("waiting for offline import: the replica has not imported exported point %s yet (ReplicaHost.Import)", e.point)
	}
	return "waiting for the seed copy: the replica holds no copy to compare with yet (ReplicaHost.Seed)"
}

// waitingReason returns the health reason of an initial replication
// waiting for its copy on the replica, "" when err is not that.
func waitingReason(err error) string {
	var w *initialWaitError
	if errors.As(err, &w) {
		return w.reason()
	}
	return ""
}

// ExportedPoint returns the point a Media initial replication exported
// that the replica has not imported yet, and its instant; the zero id when
// no export awaits its import. A host that restarts meanwhile keeps it and
// calls PrimaryHost.ReattachExported.
func (r *Relationship) ExportedPoint() (delta.PointID, time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.init.exported, r.init.exportedAt
}

// awaitingImport reports whether a Media export waits for its import.
func (r *Relationship) awaitingImport() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return !r.init.exported.IsZero()
}

// initialCopyLocked runs the step of a Media or Seed initial replication
// that the relationship is at.
func (r *Relationship) initialCopyLocked(ctx context.Context) (CycleResult, error) {
	switch {
	case r.cfg.Initial.Mode == Seed:
		return r.seedLocked(ctx)
	case r.State() == InitialReplicationInProgress && r.awaitingImport():
		return r.importCheckLocked(ctx)
	}
	return r.exportLocked(ctx)
}

// exportLocked writes the full copy to the media directory. On success
// the relationship stays InitialReplicationInProgress with the exported
// point remembered; on failure it is InitialReplicationPending again.
func (r *Relationship) exportLocked(ctx context.Context) (CycleResult, error) {
	if err := r.transition("export initial copy", InitialReplicationInProgress); err != nil {
		return CycleResult{}, err
	}
	res, err := r.export(ctx)
	if err != nil {
		if r.State() == InitialReplicationInProgress {
			r.transition("export failed", InitialReplicationPending)
		}
		r.finish(ctx, true, CycleResult{}, err)
		return CycleResult{}, err
	}
	r.log.Info("initial copy exported to media; waiting for its import on the replica",
		"point", res.Point, "dir", r.cfg.Initial.MediaDir, "bytes", res.StreamBytes)
	if f := r.host.cfg.OnCycle; f != nil {
		f(CycleEvent{Group: r.cfg.ID, Initial: true, Export: true, Result: res})
	}
	return res, nil
}

// export freezes every non-zero block, as markNonZero and transfer do
// for Network, and encodes them into a media stream under a fresh point
// id. Nothing is sent: the frozen blocks are committed locally, and the
// writes after the freeze stay tracked for the first cycle after the
// import.
func (r *Relationship) export(ctx context.Context) (CycleResult, error) {
	var res CycleResult
	if err := r.markNonZero(ctx); err != nil {
		return res, err
	}
	app := r.appDue()
	r.wantApp.Store(app)
	frozen, err := r.tracker.Freeze(ctx)
	r.wantApp.Store(false)
	if err != nil {
		return res, fmt.Errorf("replica: freeze: %w", err)
	}
	id, est, err := r.writeMedia(ctx, frozen, app)
	if err != nil {
		if rerr := frozen.Restore(); rerr != nil {
			err = errors.Join(err, fmt.Errorf("replica: restore frozen blocks: %w", rerr))
		}
		return res, err
	}
	if err := frozen.Commit(ctx); err != nil {
		// The blocks stay dirty and travel again in the first cycle after
		// the import, which is harmless.
		r.log.Warn("commit of exported blocks failed; they will be sent again", "err", err)
		frozen.Restore()
	}
	now := r.clock.Now()
	blocks := frozen.Dirty().Blocks
	r.mu.Lock()
	r.init.exported, r.init.exportedAt = id, frozen.Time()
	r.init.exportBlocks, r.init.exportBytes = blocks, est.StreamBytes
	if app {
		r.lastApp = frozen.Time()
	}
	r.mu.Unlock()
	return CycleResult{
		Point:         id,
		Time:          frozen.Time(),
		AppConsistent: app,
		Blocks:        blocks,
		StreamBytes:   est.StreamBytes,
		Latency:       now.Sub(frozen.Time()),
	}, nil
}

// writeMedia encodes frozen as a full stream into the media directory.
// The header's Meta carries the group record (metadata and failover
// settings) when it fits, so that Import can create the group itself.
func (r *Relationship) writeMedia(ctx context.Context, frozen *delta.Frozen, app bool) (delta.PointID, delta.EncodeStats, error) {
	var est delta.EncodeStats
	id, err := delta.NewPointID(r.host.cfg.Rand)
	if err != nil {
		return id, est, err
	}
	h := delta.Header{
		Group:       r.cfg.ID,
		New:         id,
		Time:        frozen.Time(),
		Consistency: delta.ConsistencyCrash,
		BlockSize:   r.cfg.BlockSize,
		Volumes:     r.infos,
	}
	if app {
		h.Consistency = delta.ConsistencyApp
	}
	if rec := encodeGroupRecord(r.cfg.Metadata, r.cfg.FailoverSettings); len(rec) <= delta.MaxMeta {
		h.Meta = rec
	}
	ret := r.cfg.Retention
	opts := []media.Option{
		media.WithStreamID(id),
		media.WithLabels(map[string]string{
			labelGroup:        r.cfg.ID,
			labelPoint:        id.String(),
			labelRetentionN:   strconv.Itoa(ret.Additional),
			labelRetentionGap: ret.Spacing.String(),
			labelRetentionApp: strconv.FormatBool(ret.KeepApp),
		}),
	}
	if n := r.cfg.Initial.MediaPartSize; n != 0 {
		opts = append(opts, media.WithPartSize(n))
	}
	w, err := media.NewWriter(r.cfg.Initial.MediaDir, opts...)
	if err != nil {
		return id, est, fmt.Errorf("replica: export to %s: %w", r.cfg.Initial.MediaDir, err)
	}
	eopts := append([]delta.EncoderOption{delta.WithCompression(!r.cfg.NoCompression), delta.WithProgress(r.initialProgress)}, fullStreamOpts(h.Base)...)
	enc, err := delta.NewEncoder(w, h, eopts...)
	if err == nil {
		est, err = enc.Encode(ctx, frozen)
	}
	if err != nil {
		w.Abort()
		return id, est, fmt.Errorf("replica: export to %s: %w", r.cfg.Initial.MediaDir, err)
	}
	if err := w.Close(); err != nil {
		return id, est, fmt.Errorf("replica: export to %s: %w", r.cfg.Initial.MediaDir, err)
	}
	return id, est, nil
}

// initialProgress records and reports the progress of an initial
// replication.
func (r *Relationship) initialProgress(done, total int64) {
	r.mu.Lock()
	r.stats.initialDone, r.stats.initialTotal = done, total
	r.mu.Unlock()
	if p := r.cfg.Initial.Progress; p != nil {
		p(done, total)
	}
}

// importCheckLocked asks the replica whether it imported the exported
// point: not yet is ErrSeedMissing (temporary, retried); the exported
// point makes the relationship Replicating (ResynchronizationRequired when
// tracking was lost meanwhile), so the next cycle sends what was written
// since the export's freeze; any other point is ResynchronizationRequired.
func (r *Relationship) importCheckLocked(ctx context.Context) (CycleResult, error) {
	res, err := r.checkImport(ctx)
	r.finish(ctx, true, res, err)
	if err != nil {
		return CycleResult{}, err
	}
	return res, nil
}

func (r *Relationship) checkImport(ctx context.Context) (CycleResult, error) {
	r.mu.Lock()
	exp := r.init
	r.mu.Unlock()
	// A fresh connection brings the replica's current status.
	r.closeConn()
	st, err := r.connect(ctx)
	if err != nil {
		return CycleResult{}, err
	}
	if err := failedOver(st); err != nil {
		return CycleResult{}, err
	}
	switch {
	case !st.Exists:
		return CycleResult{}, fmt.Errorf("replica: %w: group %q", ErrUnknownGroup, r.cfg.ID)
	case st.Latest.IsZero():
		return CycleResult{}, &initialWaitError{mode: Media, group: r.cfg.ID, point: exp.exported}
	case st.Latest != exp.exported:
		r.transition("replica at a point other than the exported one", ResynchronizationRequired)
		r.mu.Lock()
		r.init.exported = delta.PointID{}
		r.mu.Unlock()
		return CycleResult{}, fmt.Errorf("%w: replica at %s, exported %s", errUnknownReplicaPoint, st.Latest, exp.exported)
	}
	now := r.clock.Now()
	r.mu.Lock()
	r.lastPoint, r.lastTime, r.lastHash, r.inDoubt = exp.exported, exp.exportedAt, delta.Hash{}, delta.PointID{}
	r.init = initialState{}
	r.mu.Unlock()
	to, why := Replicating, "offline copy imported"
	if exp.trackingLost {
		to, why = ResynchronizationRequired, "offline copy imported; tracking was lost since the export"
	}
	if err := r.transition(why, to); err != nil {
		return CycleResult{}, err
	}
	return CycleResult{
		Point:       exp.exported,
		Time:        exp.exportedAt,
		Blocks:      exp.exportBlocks,
		StreamBytes: exp.exportBytes,
		Latency:     now.Sub(exp.exportedAt),
	}, nil
}
