package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/blockrep/blockrep/checkpoint"
	"github.com/blockrep/blockrep/delta"
)

// errMismatch is wrapped by every failed verification; run exits 1.
var errMismatch = errors.New("content differs")

// hashImage reads volumes (one reader per volume of the group, of the
// group's sizes) and returns the hash of every block.
func hashImage(ctx context.Context, vols []io.ReaderAt, sizes []int64, blockSize int) (image, error) {
	if len(vols) != len(sizes) {
		return nil, fmt.Errorf("%d volumes, want %d", len(vols), len(sizes))
	}
	im := make(image, len(vols))
	for i, v := range vols {
		g, err := delta.NewGeometry(sizes[i], blockSize)
		if err != nil {
			return nil, err
		}
		if im[i], err = delta.HashVolume(ctx, v, g); err != nil {
			return nil, fmt.Errorf("hash volume %d: %w", i, err)
		}
	}
	return im, nil
}

// verify hashes vols and compares the content with want: it prints the
// outcome and returns an error wrapping errMismatch when they differ.
func (s *story) verify(ctx context.Context, what string, vols []io.ReaderAt, want image) error {
	start := time.Now()
	got, err := hashImage(ctx, vols, s.sizes, s.blockSize)
	if err != nil {
		return fmt.Errorf("verify %s: %w", what, err)
	}
	return s.compare(what, got, want, time.Since(start))
}

// compare reports whether got equals want, naming the first differing
// block when not.
func (s *story) compare(what string, got, want image, took time.Duration) error {
	g, w := got.root(), want.root()
	if g == w {
		s.rep.ok("%s: content %s, as expected (%s hashed in %s)", what, shortHash(g), formatBytes(s.total()), formatDuration(took))
		return nil
	}
	detail := ""
	for i := range got {
		if d, err := got[i].Diff(want[i]); err == nil && !d.Empty() {
			var first int64
			for b := range d.All() {
				first = b
				break
			}
			detail = fmt.Sprintf("; %d blocks of %s differ, the first at %s", d.Count(), s.vols[i].Name, formatBytes(first*int64(s.blockSize)))
			break
		}
	}
	s.rep.fail("%s: content %s, expected %s%s", what, shortHash(g), shortHash(w), detail)
	return fmt.Errorf("%s: %w", what, errMismatch)
}

// verifyPoint reads point id from h's store and compares it with want.
func (s *story) verifyPoint(ctx context.Context, h *host, id delta.PointID, want image, what string) error {
	g, err := h.store.Group(ctx, s.group)
	if err != nil {
		return err
	}
	view, err := g.OpenPoint(ctx, id)
	if err != nil {
		return fmt.Errorf("open point %s on %s: %w", shortID(id), h.name, err)
	}
	defer view.Close()
	return s.verify(ctx, what, readers(view.Volumes()), want)
}

// readers turns a view's, a clone's or a failover's volumes into readers.
func readers[V io.ReaderAt](vols []V) []io.ReaderAt {
	r := make([]io.ReaderAt, len(vols))
	for i, v := range vols {
		r[i] = v
	}
	return r
}

// writersOf turns a clone's or a failover's volumes into writers.
func writersOf[V io.WriterAt](vols []V) []io.WriterAt {
	w := make([]io.WriterAt, len(vols))
	for i, v := range vols {
		w[i] = v
	}
	return w
}

// checkpointPoints returns the chain of the group on h, oldest first.
func (s *story) checkpointPoints(ctx context.Context, h *host) ([]checkpoint.Point, error) {
	g, err := h.rh.Group(ctx, s.group)
	if err != nil {
		return nil, err
	}
	return g.Points, nil
}
