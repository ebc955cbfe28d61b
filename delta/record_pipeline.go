package delta

import (
	"context"

	"golang.org/x/sync/errgroup"
)

// runOrdered runs an ordered pipeline over the slots: fill, on one
// goroutine, loads the next item into a free slot (false: no more items);
// work processes filled slots on up to workers goroutines at once; drain,
// on one goroutine, takes the processed slots in fill order. A slot is
// reused only after drain is done with it, so memory is bounded by the
// slots whatever the number of items. The first error cancels everything
// and is returned; no goroutine outlives the call.
func runOrdered[T any](ctx context.Context, workers int, slots []*T,
	fill func(ctx context.Context, s *T) (bool, error),
	work func(w int, s *T) error,
	drain func(s *T) error,
) error {
	type item struct {
		s    *T
		done chan error
	}
	g, ctx := errgroup.WithContext(ctx)
	free := make(chan *T, len(slots))
	for _, s := range slots {
		free <- s
	}
	todo := make(chan item, len(slots))
	order := make(chan item, len(slots))
	g.Go(func() error {
		defer close(order)
		defer close(todo)
		for {
			var s *T
			select {
			case s = <-free:
			case <-ctx.Done():
				return ctx.Err()
			}
			more, err := fill(ctx, s)
			if err != nil || !more {
				return err
			}
			it := item{s: s, done: make(chan error, 1)}
			// Neither send blocks: at most len(slots) items exist.
			todo <- it
			order <- it
		}
	})
	for w := range workers {
		g.Go(func() error {
			for {
				select {
				case it, ok := <-todo:
					if !ok {
						return nil
					}
					err := work(w, it.s)
					it.done <- err
					if err != nil {
						return err
					}
				case <-ctx.Done():
					return ctx.Err()
				}
			}
		})
	}
	g.Go(func() error {
		for {
			var it item
			select {
			case v, ok := <-order:
				if !ok {
					return nil
				}
				it = v
			case <-ctx.Done():
				return ctx.Err()
			}
			select {
			case err := <-it.done:
				if err != nil {
					return err
				}
			case <-ctx.Done():
				return ctx.Err()
			}
			if err := drain(it.s); err != nil {
				return err
			}
			free <- it.s
		}
	})
	return g.Wait()
}
