package replica

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"

	"golang.org/x/sync/errgroup"

	"github.com/blockrep/blockrep/checkpoint"
	"github.com/blockrep/blockrep/delta"
)

// SeedPinHolder is the pin holder that marks a group's seed point in the
// checkpoint store (Group.Pins): the point ReplicaHost.Seed made, which
// no primary sent. The pin is released when a primary's first delta
// builds on the seed.
const SeedPinHolder = "seed"

// ErrSeedMismatch is returned (inside a *SeedVolumeError) by
// ReplicaHost.Seed when the copies given do not match the group's
// volumes: another count or another size.
var ErrSeedMismatch = errors.New("replica: seed copy does not match the group's volumes")

// ErrGroupNotEmpty is returned by ReplicaHost.Seed when the group holds a
// recovery point already: a seed is only the start of a chain.
var ErrGroupNotEmpty = errors.New("replica: the group already holds a recovery point")

// SeedVolumeError says which copy given to ReplicaHost.Seed does not fit
// the group. It wraps ErrSeedMismatch.
type SeedVolumeError struct {
	Group  string
	Volume int    // index in the group; -1 for a wrong count
	Name   string // the volume's id, "" for a wrong count
	Want   int64  // the volume's size (the volume count for a wrong count)
	Got    int64  // the copy's size (-1 when the copy is only known to be shorter or longer)
	Reason string
}

func (e *SeedVolumeError) Error() string {
	if e.Volume < 0 {
		return fmt.Sprintf("replica: seed of group %q: %d copies for %d volumes", e.Group, e.Got, e.Want)
	}
	return fmt.Sprintf("replica: seed of group %q volume %d (%s): %s", e.Group, e.Volume, e.Name, e.Reason)
}

// Unwrap returns ErrSeedMismatch.
func (e *SeedVolumeError) Unwrap() error { return ErrSeedMismatch }

// Seed imports an existing copy of a group's volumes (vols, one
// io.ReaderAt per group volume in group order, each exactly the volume's
// size) as the group's first recovery point: the seed from which a
// primary whose GroupConfig.Initial.Mode is Seed sends only the blocks
// whose hashes differ. The group must exist (Enable creates it) and hold
// no point (ErrGroupNotEmpty). The copy is read once and applied
// crash-safely like any delta — staged first, so the store needs room for
// its non-zero blocks twice while Seed runs — and must not change
// meanwhile.
//
// The point has a fresh id and the copy's instant is the host clock's
// now; it is pinned with holder SeedPinHolder, the mark that it is a seed
// and no primary's point, until the primary's first delta builds on it.
// A copy of the wrong count or size gives a *SeedVolumeError (ErrSeedMismatch).
// A size is taken from a Size() int64 or Stat() method when the ReaderAt
// has one, else probed by reading at the volume's end. Like Import, Seed
// runs by the operator's hand and does not consult the authorizer.
func (h *ReplicaHost) Seed(ctx context.Context, group string, vols []io.ReaderAt) (checkpoint.Point, error) {
	if h.isClosed() {
		return checkpoint.Point{}, ErrClosed
	}
	if err := checkpoint.ValidGroupID(group); err != nil {
		return checkpoint.Point{}, fmt.Errorf("replica: seed: %w", err)
	}
	g, err := h.openGroup(ctx, group)
	if err != nil {
		if errors.Is(err, ErrUnknownGroup) {
			return checkpoint.Point{}, fmt.Errorf("replica: seed: enable the group before seeding it: %w", err)
		}
		return checkpoint.Point{}, err
	}
	spec := g.Spec()
	if err := checkSeedVolumes(group, spec.Volumes, vols); err != nil {
		return checkpoint.Point{}, err
	}
	done, err := h.beginApply(group)
	if err != nil {
		return checkpoint.Point{}, err
	}
	defer done()
	switch latest, err := g.Latest(ctx); {
	case err == nil:
		return checkpoint.Point{}, fmt.Errorf("%w: group %q is at point %s", ErrGroupNotEmpty, group, latest.ID)
	case !errors.Is(err, checkpoint.ErrNoPoint):
		return checkpoint.Point{}, err
	}
	id, err := delta.NewPointID(nil)
	if err != nil {
		return checkpoint.Point{}, err
	}
	geoms := spec.Geometries()
	src, err := delta.NewSource(vols, geoms, nil)
	if err != nil {
		return checkpoint.Point{}, err
	}
	hdr := delta.Header{
		Group:       group,
		New:         id,
		Time:        h.cfg.Clock.Now(),
		Consistency: delta.ConsistencyCrash,
		BlockSize:   geoms[0].BlockSize,
		Volumes:     spec.Volumes,
	}
	res, err := applyLocal(ctx, g, hdr, src)
	if err != nil {
		return checkpoint.Point{}, fmt.Errorf("replica: seed group %q: %w", group, err)
	}
	if err := g.Pin(ctx, id, SeedPinHolder); err != nil {
		return res.Point, fmt.Errorf("replica: seed group %q: mark the seed point: %w", group, err)
	}
	h.log.Info("group seeded", "group", group, "point", id)
	return res.Point, nil
}

// errSeedStopped ends the encoder of a local apply that stopped reading.
var errSeedStopped = errors.New("replica: seed apply stopped")

// applyLocal encodes src as a stream with header hdr and applies it to g
// through a pipe: the store stages and verifies it as it would a delta
// from the wire, so the seed is as crash-safe as any point.
func applyLocal(ctx context.Context, g checkpoint.Group, hdr delta.Header, src delta.Source) (checkpoint.ApplyResult, error) {
	pr, pw := io.Pipe()
	eg, ectx := errgroup.WithContext(ctx)
	eg.Go(func() error {
		enc, err := delta.NewEncoder(pw, hdr, delta.WithCompression(false))
		if err == nil {
			_, err = enc.Encode(ectx, src)
		}
		pw.CloseWithError(err)
		return err
	})
	res, aerr := g.Apply(ctx, pr)
	pr.CloseWithError(errSeedStopped)
	eerr := eg.Wait()
	switch {
	case aerr == nil:
		return res, nil
	case eerr != nil && !errors.Is(eerr, errSeedStopped):
		return res, fmt.Errorf("read the copy: %w", eerr)
	}
	return res, aerr
}

// checkSeedVolumes checks the copies' count and sizes against the group.
func checkSeedVolumes(group string, infos []delta.VolumeInfo, vols []io.ReaderAt) error {
	if len(vols) != len(infos) {
		return &SeedVolumeError{Group: group, Volume: -1, Want: int64(len(infos)), Got: int64(len(vols)), Reason: "wrong number of copies"}
	}
	for i, v := range vols {
		info := infos[i]
		bad := func(got int64, reason string) error {
			return &SeedVolumeError{Group: group, Volume: i, Name: info.ID, Want: info.Size, Got: got, Reason: reason}
		}
		if v == nil {
			return bad(-1, "nil copy")
		}
		got, known, err := readerSize(v)
		if err != nil {
			return fmt.Errorf("replica: seed of group %q volume %d (%s): size: %w", group, i, info.ID, err)
		}
		if known {
			if got != info.Size {
				return bad(got, fmt.Sprintf("copy of %d bytes, volume of %d", got, info.Size))
			}
			continue
		}
		if reason := probeSize(v, info.Size); reason != "" {
			return bad(-1, reason)
		}
	}
	return nil
}

// readerSize returns the size of r when it can say it.
func readerSize(r io.ReaderAt) (int64, bool, error) {
	switch v := r.(type) {
	case interface{ Size() int64 }:
		return v.Size(), true, nil
	case interface{ Stat() (os.FileInfo, error) }:
		fi, err := v.Stat()
		if err != nil {
			return 0, false, err
		}
		if fi.Mode().IsRegular() {
			return fi.Size(), true, nil
		}
	}
	return 0, false, nil
}

// probeSize checks that r has a byte at size-1 and none at size; it
// returns why not, or "".
func probeSize(r io.ReaderAt, size int64) string {
	var b [1]byte
	if size > 0 {
		if n, _ := r.ReadAt(b[:], size-1); n != 1 {
			return fmt.Sprintf("copy shorter than the volume's %d bytes", size)
		}
	}
	if n, _ := r.ReadAt(b[:], size); n != 0 {
		return fmt.Sprintf("copy longer than the volume's %d bytes", size)
	}
	return ""
}

// releaseSeed drops the seed mark of base once a primary's delta built on
// it: the point is then an ordinary one, which retention may prune.
func (h *ReplicaHost) releaseSeed(ctx context.Context, g checkpoint.Group, base delta.PointID) {
	if base.IsZero() {
		return
	}
	pins, err := g.Pins(ctx)
	if err != nil {
		h.log.Warn("seed pin not checked", "group", g.ID(), "err", err)
		return
	}
	for _, p := range pins {
		if p.Point == base && p.Holder == SeedPinHolder {
			if err := g.Unpin(ctx, base, SeedPinHolder); err != nil {
				h.log.Warn("seed pin not released", "group", g.ID(), "point", base, "err", err)
			}
			return
		}
	}
}
