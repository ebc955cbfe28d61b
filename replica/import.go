package replica

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"time"

	"github.com/blockrep/blockrep/checkpoint"
	"github.com/blockrep/blockrep/delta"
	"github.com/blockrep/blockrep/transport/media"
)

// ImportResult describes what ReplicaHost.Import did.
type ImportResult struct {
	Group    string           `json:"group"`
	Point    checkpoint.Point `json:"point"`    // the imported point (or the one found replayed)
	Bytes    int64            `json:"bytes"`    // stream bytes read
	Replayed bool             `json:"replayed"` // the group held the point already; nothing changed
	Created  bool             `json:"created"`  // the group was created from the stream
}

// Import applies a Media initial replication's stream, carried on offline
// media, to the group it belongs to on this host: dir is the stream's
// directory (see transport/media). It runs on the replica host, by the
// operator's hand, so the authorizer is not consulted; the group id must
// be valid and the same in the media labels and the stream.
//
// The group is normally there already (Enable created it, in whichever
// storage location its authorization names). When it is not, Import
// creates it in ReplicaConfig.Store from the stream: volumes and block
// size from the delta header, the metadata and failover settings from the
// group record the header's Meta carries, the retention from the media
// labels. A
// header without a group record (a primary whose metadata was too large
// for delta.MaxMeta) is refused with ErrUnknownGroup: enable the group
// first.
//
// The stream is verified whole — every media part's checksum and the
// delta's own checks — before anything changes; damaged media gives the
// transport/media errors (media.ErrIncomplete, media.ErrCorrupt, a
// *media.PartError) or delta.ErrCorrupt, and leaves the store as it was
// (a group Import created is removed again). Importing a point the group
// holds already is Replayed and changes nothing; a group that holds other
// points refuses the stream with checkpoint.ErrBaseMismatch. A group
// failed over on this host refuses it with a *StateError.
//
// Once the point is committed the primary's next attempt (Run, or
// Relationship.InitialReplication) finds it and starts replicating,
// sending the writes made since the export in its first cycle.
func (h *ReplicaHost) Import(ctx context.Context, dir string) (ImportResult, error) {
	if h.isClosed() {
		return ImportResult{}, ErrClosed
	}
	man, hdr, err := readMediaHeader(dir)
	if err != nil {
		return ImportResult{}, err
	}
	res := ImportResult{Group: hdr.Group}
	g, created, err := h.importGroup(ctx, man, hdr)
	if err != nil {
		return res, err
	}
	res.Created = created
	fail := func(err error) (ImportResult, error) {
		if created {
			if rerr := h.cfg.Store.RemoveGroup(ctx, hdr.Group); rerr != nil {
				err = errors.Join(err, fmt.Errorf("replica: remove the group the import created: %w", rerr))
			}
		}
		return res, err
	}
	done, err := h.beginApply(hdr.Group)
	if err != nil {
		return fail(err)
	}
	defer done()
	rd, err := media.Open(dir)
	if err != nil {
		return fail(fmt.Errorf("replica: import %s: %w", dir, err))
	}
	defer rd.Close()
	in := &countReader{r: rd}
	// The header's group record replaces the group's (checkpoint Apply
	// keeps a stream's Meta): the same metadata and failover settings, on
	// a group that holds no point yet, so no role state is lost.
	ar, err := g.Apply(ctx, in)
	if err != nil {
		return fail(fmt.Errorf("replica: import %s into group %q: %w", dir, hdr.Group, err))
	}
	if !ar.Replayed {
		// A stream written by a Media export ends with the delta; bytes
		// after it are not the delta's, which verified on its own.
		if extra, err := io.Copy(io.Discard, in); extra > 0 || err != nil {
			h.log.Warn("media stream goes on after the delta", "dir", dir, "bytes", extra, "err", err)
		}
	}
	res.Point, res.Replayed, res.Bytes = ar.Point, ar.Replayed, in.n
	h.log.Info("offline copy imported", "group", hdr.Group, "point", ar.Point.ID, "bytes", in.n, "replayed", ar.Replayed, "created", created)
	return res, nil
}

// readMediaHeader opens the stream in dir and reads its manifest and the
// delta header, checking that they name the same valid group and point
// and that the stream is a full one.
func readMediaHeader(dir string) (media.Manifest, *delta.Header, error) {
	rd, err := media.Open(dir)
	if err != nil {
		return media.Manifest{}, nil, fmt.Errorf("replica: import %s: %w", dir, err)
	}
	defer rd.Close()
	man := rd.Manifest()
	dec, err := delta.NewDecoder(rd)
	if err != nil {
		return man, nil, fmt.Errorf("replica: import %s: %w", dir, err)
	}
	hdr := dec.Header()
	dec.Close()
	group := man.Labels[labelGroup]
	if err := checkpoint.ValidGroupID(group); err != nil {
		return man, nil, fmt.Errorf("%w: import %s: media label %s: %w", delta.ErrCorrupt, dir, labelGroup, err)
	}
	switch {
	case hdr.Group != group:
		return man, nil, fmt.Errorf("%w: import %s: stream of group %q, media labelled %q", delta.ErrCorrupt, dir, hdr.Group, group)
	case man.Labels[labelPoint] != hdr.New.String():
		return man, nil, fmt.Errorf("%w: import %s: stream makes point %s, media labelled %q", delta.ErrCorrupt, dir, hdr.New, man.Labels[labelPoint])
	case !hdr.Base.IsZero():
		return man, nil, fmt.Errorf("%w: import %s: not a full stream (base %s)", delta.ErrCorrupt, dir, hdr.Base)
	}
	return man, hdr, nil
}

// importGroup returns the group the stream goes to, creating it from the
// stream when the store does not have it.
func (h *ReplicaHost) importGroup(ctx context.Context, man media.Manifest, hdr *delta.Header) (checkpoint.Group, bool, error) {
	g, err := h.openGroup(ctx, hdr.Group)
	if err == nil {
		return g, false, nil
	}
	if !errors.Is(err, ErrUnknownGroup) {
		return nil, false, err
	}
	if _, _, rerr := decodeGroupRecord(hdr.Meta); rerr != nil {
		return nil, false, fmt.Errorf("%w: %q: the stream carries no group record to create it from; enable the group first", ErrUnknownGroup, hdr.Group)
	}
	ret, err := labelRetention(man.Labels)
	if err != nil {
		return nil, false, err
	}
	spec := checkpoint.GroupSpec{Volumes: hdr.Volumes, BlockSize: hdr.BlockSize, Meta: hdr.Meta, Retention: ret}
	g, err = h.createGroupIn(ctx, "", hdr.Group, spec) // ReplicaConfig.Store: stores.go
	if err != nil {
		return nil, false, fmt.Errorf("replica: create group %q for the import: %w", hdr.Group, err)
	}
	return g, true, nil
}

// labelRetention parses the retention a Media export recorded.
func labelRetention(l map[string]string) (checkpoint.Retention, error) {
	var ret checkpoint.Retention
	bad := func(key string, err error) (checkpoint.Retention, error) {
		return checkpoint.Retention{}, fmt.Errorf("%w: media label %s=%q: %v", delta.ErrCorrupt, key, l[key], err)
	}
	var err error
	if ret.Additional, err = strconv.Atoi(l[labelRetentionN]); err != nil {
		return bad(labelRetentionN, err)
	}
	if ret.Additional < 0 || ret.Additional >= checkpoint.MaxPoints {
		return bad(labelRetentionN, errors.New("out of range"))
	}
	if ret.Spacing, err = time.ParseDuration(l[labelRetentionGap]); err != nil {
		return bad(labelRetentionGap, err)
	}
	if ret.Spacing < 0 {
		return bad(labelRetentionGap, errors.New("negative"))
	}
	if ret.KeepApp, err = strconv.ParseBool(l[labelRetentionApp]); err != nil {
		return bad(labelRetentionApp, err)
	}
	return ret, nil
}

// countReader counts the bytes read through it.
type countReader struct {
	r io.Reader
	n int64
}

func (c *countReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}
