package replica

import (
	"context"
	"errors"
	"io"

	"github.com/blockrep/blockrep/checkpoint"
	"github.com/blockrep/blockrep/delta"
	"golang.org/x/sync/errgroup"
)

// applySource encodes src as the delta hdr describes and applies it to g
// through a pipe, so the stream is never held whole. The store verifies
// and applies it like any delta: crash-safely, as one new point.
func applySource(ctx context.Context, g checkpoint.Group, hdr delta.Header, src delta.Source) error {
	pr, pw := io.Pipe()
	eg, ectx := errgroup.WithContext(ctx)
	eg.Go(func() error {
		enc, err := delta.NewEncoder(pw, hdr)
		if err == nil {
			_, err = enc.Encode(ectx, src)
		}
		pw.CloseWithError(err) // nil: the reader sees io.EOF after the trailer
		return err
	})
	var applyErr error // the store's verdict outranks the encoder's broken pipe
	eg.Go(func() error {
		res, err := g.Apply(ectx, pr)
		if err == nil && res.Point.ID != hdr.New {
			err = errors.New("replica: the store committed another point than the failover image")
		}
		applyErr = err
		if err != nil {
			pr.CloseWithError(err) // unblocks the encoder
		} else {
			pr.Close()
		}
		return err
	})
	err := eg.Wait()
	if applyErr != nil {
		return applyErr
	}
	return err
}
