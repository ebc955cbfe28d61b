package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/blockrep/blockrep/delta"
	"github.com/blockrep/blockrep/replica"
	"github.com/blockrep/blockrep/transport"
)

// primaryGroup is one group of a state directory opened for a command:
// its image files, a PrimaryHost of its own and the relationship, enabled
// anew or reattached from the saved state.
type primaryGroup struct {
	dir   stateDir
	st    *groupState
	files []*os.File
	host  *replica.PrimaryHost
	rel   *replica.Relationship
	cfg   replica.GroupConfig

	// progress, when set, receives the initial copy's progress.
	progress func(done, total int64)

	// seedResync: the replica holds the seed (ReplicaHost.Seed) of a group
	// this host enabled in an earlier process; the initial replication is
	// a resynchronization against it.
	seedResync bool
}

// openPrimaryGroup opens group name of dir and brings its relationship up:
// Enable while no initial replication was acknowledged, else Reattach with
// the last acknowledged point. It does not contact the replica except to
// create the group on Enable.
func openPrimaryGroup(ctx context.Context, dir stateDir, name string, peer peerFlags, stderr io.Writer, progress func(done, total int64)) (*primaryGroup, error) {
	return openPrimaryGroupSent(ctx, dir, name, peer, stderr, progress, nil)
}

// openPrimaryGroupSent is openPrimaryGroup with sent, when not nil, called
// with the bytes sent to the replica so far after every frame.
func openPrimaryGroupSent(ctx context.Context, dir stateDir, name string, peer peerFlags, stderr io.Writer, progress func(done, total int64), sent func(int64)) (*primaryGroup, error) {
	st, err := dir.load(name)
	if err != nil {
		return nil, err
	}
	if st.Demoted != "" {
		return nil, fmt.Errorf("group %s was handed over to its replica; this host keeps it as a replica in %s (blockrep serve --store %s)", name, st.Demoted, st.Demoted)
	}
	if !peer.given() {
		peer = peerFlags{cert: st.Cert, key: st.Key, ca: st.CA, insecure: st.Insecure, name: st.Name}
	}
	tr, err := peer.transport(stderr)
	if err != nil {
		return nil, err
	}
	g := &primaryGroup{dir: dir, st: st, progress: progress}
	ok := false
	defer func() {
		if !ok {
			g.close()
		}
	}()
	for i, path := range st.Volumes {
		f, err := os.OpenFile(path, os.O_RDWR, 0)
		if err != nil {
			return nil, fmt.Errorf("volume %d: %w", i, err)
		}
		g.files = append(g.files, f)
		fi, err := f.Stat()
		if err != nil {
			return nil, err
		}
		if fi.Size() != st.Sizes[i] {
			return nil, fmt.Errorf("volume %s is %d bytes, it was %d when the group was enabled; a volume's size cannot change", path, fi.Size(), st.Sizes[i])
		}
	}
	g.cfg = g.groupConfig()
	var ptr transport.Transport = tr
	if sent != nil {
		ptr = &countingTransport{Transport: tr, report: sent}
	}
	g.host, err = replica.NewPrimaryHost(replica.PrimaryConfig{
		Transport: ptr,
		Rand:      &pointIDs{record: g.recordPending},
	})
	if err != nil {
		return nil, err
	}
	if err := g.attach(ctx); err != nil {
		return nil, err
	}
	if st.State == replica.Suspended && g.rel.State() != replica.Suspended {
		if err := g.rel.Suspend(ctx); err != nil {
			return nil, err
		}
	}
	ok = true
	return g, nil
}

// groupConfig is the library's configuration of the saved group.
func (g *primaryGroup) groupConfig() replica.GroupConfig {
	st := g.st
	cfg := replica.GroupConfig{
		ID:                    st.Group,
		Replica:               st.Replica,
		Frequency:             time.Duration(st.Frequency),
		Retention:             st.retention(),
		AppConsistentInterval: time.Duration(st.AppEvery),
		NoCompression:         st.NoCompress,
		BlockSize:             st.BlockSize,
		Initial:               replica.InitialReplication{Progress: g.reportProgress},
	}
	cfg.Initial.Mode, cfg.Initial.MediaDir = st.initialMode()
	for i, path := range st.Volumes {
		cfg.Volumes = append(cfg.Volumes, replica.VolumeConfig{Name: filepath.Base(path), Volume: g.files[i], Size: st.Sizes[i]})
	}
	if st.AppEvery > 0 {
		cfg.Quiesce = g.quiesce
	}
	return cfg
}

func (g *primaryGroup) reportProgress(done, total int64) {
	if g.progress != nil {
		g.progress(done, total)
	}
}

// quiesce is the app-consistency hook of a tool that sees only files: it
// flushes every image file to stable storage before the freeze, so that a
// point marked app-consistent holds everything the writing programs had
// handed to the operating system.
func (g *primaryGroup) quiesce(ctx context.Context) (func(), error) {
	for _, f := range g.files {
		if err := f.Sync(); err != nil {
			return nil, fmt.Errorf("flushing %s: %w", f.Name(), err)
		}
	}
	return func() {}, nil
}

// attach enables or reattaches the relationship.
func (g *primaryGroup) attach(ctx context.Context) error {
	st := g.st
	if st.LastPoint.IsZero() && !st.Exported.IsZero() {
		return g.reattachExported(ctx)
	}
	if st.LastPoint.IsZero() {
		err := g.enable(ctx)
		if err != nil && errors.Is(err, replica.ErrGroupExists) && st.Initial == "seed" {
			// The library reattaches only relationships that had a point
			// acknowledged; the seed is no such point. Reattach on any
			// id: the initial replication is the resynchronization
			// against the seed, which does not depend on it.
			placeholder := st.newestPending()
			if placeholder.IsZero() {
				if placeholder, err = delta.NewPointID(nil); err != nil {
					return err
				}
			}
			g.seedResync = true
			return g.reattach(ctx, placeholder)
		}
		if err == nil || len(st.PendingPoints) == 0 || !errors.Is(err, replica.ErrGroupExists) {
			return err
		}
		// The replica holds points: the initial copy was committed but
		// its acknowledgement lost. Build on it.
		// (If the newest is not the one, the first cycle finds the
		// replica at an unknown point and tries the others.)
		return g.reattach(ctx, st.newestPending())
	}
	return g.reattach(ctx, st.LastPoint)
}

func (g *primaryGroup) enable(ctx context.Context) error {
	f, err := delta.CreateStateFile(g.dir.trackerPath(g.st.Group))
	if err != nil {
		return err
	}
	cfg := g.cfg
	cfg.TrackerState = f
	rel, err := g.host.Enable(ctx, cfg)
	if err != nil {
		f.Close()
		return err
	}
	g.rel = rel
	return nil
}

func (g *primaryGroup) reattach(ctx context.Context, last delta.PointID) error {
	path := g.dir.trackerPath(g.st.Group)
	f, err := delta.OpenStateFile(path)
	if errors.Is(err, os.ErrNotExist) {
		f, err = delta.CreateStateFile(path)
	}
	if err != nil {
		return err
	}
	cfg := g.cfg
	cfg.TrackerState = f
	rel, err := g.host.Reattach(ctx, cfg, last)
	if err != nil {
		f.Close()
		return err
	}
	g.rel = rel
	return nil
}

// reattachExported reopens a relationship waiting for the import of its
// media initial replication.
func (g *primaryGroup) reattachExported(ctx context.Context) error {
	path := g.dir.trackerPath(g.st.Group)
	f, err := delta.OpenStateFile(path)
	if errors.Is(err, os.ErrNotExist) {
		f, err = delta.CreateStateFile(path)
	}
	if err != nil {
		return err
	}
	cfg := g.cfg
	cfg.TrackerState = f
	rel, err := g.host.ReattachExported(ctx, cfg, g.st.Exported, g.st.ExportedTime)
	if err != nil {
		f.Close()
		return err
	}
	g.rel = rel
	return nil
}

// state returns the relationship's state (StateNone when it was lost to
// a failed reattach).
func (g *primaryGroup) state() replica.State {
	if g.rel == nil {
		return replica.StateNone
	}
	return g.rel.State()
}

// recordPending adds id to the group's pending points, durably, before
// the replica can hear of it.
func (g *primaryGroup) recordPending(id delta.PointID) error {
	p := append([]delta.PointID{id}, g.st.PendingPoints...)
	g.st.PendingPoints = p[:min(len(p), maxPending)]
	return g.dir.save(g.st)
}

// saveState records the relationship's state.
func (g *primaryGroup) saveState() error {
	if g.rel != nil {
		switch s := g.rel.State(); s {
		case replica.InitialReplicationPending, replica.InitialReplicationInProgress, replica.Replicating, replica.Suspended, replica.ResynchronizationRequired:
			g.st.State = s
		}
	}
	return g.dir.save(g.st)
}

// close closes the host (and with it the tracker, which writes its dirty
// set) and the image files.
func (g *primaryGroup) close() error {
	var errs []error
	if g.host != nil {
		if err := g.host.Close(); err != nil && !errors.Is(err, replica.ErrClosed) {
			errs = append(errs, err)
		}
	}
	for _, f := range g.files {
		if err := f.Close(); err != nil {
			errs = append(errs, err)
		}
	}
	g.files = nil
	return errors.Join(errs...)
}
