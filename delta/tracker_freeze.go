package delta

import (
	"context"
	"errors"
	"fmt"
)

// Freeze ends the current generation for every volume of the group at one
// instant and returns it as a Frozen, the Source of the cycle's capture.
// From that instant, copy-before-write keeps the frozen blocks' content for
// the Frozen while the host goes on writing.
//
// The instant is clean: Freeze waits for writes in flight through
// BeginWrite to end and holds new ones back while it swaps the generation
// (a few pointer stores). With WithQuiesce, the hook runs first and its
// resume function right after the swap. Only one Frozen may be outstanding:
// a second Freeze before Commit or Restore returns ErrFreezeOutstanding.
// ctx is checked before and after the quiesce hook; the wait for writes in
// flight is not cancellable, as writes are bounded I/O.
func (t *Tracker) Freeze(ctx context.Context) (*Frozen, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if s := t.state.Load(); s.err != nil {
		return nil, s.err
	}
	if t.frozen.Load() != nil {
		return nil, ErrFreezeOutstanding
	}
	var resume func()
	if t.opts.quiesce != nil {
		r, err := t.opts.quiesce(ctx)
		if err != nil {
			return nil, fmt.Errorf("delta: quiesce: %w", err)
		}
		resume = r
	}
	if err := ctx.Err(); err != nil {
		if resume != nil {
			resume()
		}
		return nil, err
	}

	t.gate.Lock()
	old := t.state.Load()
	// The new generation is published before anything reads the old one,
	// which is what Mark's re-check relies on.
	t.state.Store(&trackState{gen: newGeneration(t.vols), log: old.log, err: old.err})
	t.seq++
	f := newFrozen(t, old.gen, t.seq, t.opts.now(), t.opts.quiesce != nil)
	t.frozen.Store(f)
	t.gate.Unlock()

	if resume != nil {
		resume()
	}
	// Derived after the gate opens: writers decide copy-before-write from
	// the frozen bitmap itself, not from these sets.
	f.index()
	return f, nil
}

// Restore merges a Frozen whose cycle failed back into the current
// generation, pages and all, so the next cycle sends it, and ends it. It is
// f.Restore; a Frozen already committed or restored gives ErrFrozenDone.
func (t *Tracker) Restore(f *Frozen) error {
	if f == nil || f.t != t {
		return fmt.Errorf("%w: Frozen of another tracker", ErrMismatch)
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if f.done.Load() {
		return ErrFrozenDone
	}
	s := t.state.Load()
	for vol := range t.geoms {
		s.gen.pages[vol].orFrom(f.gen.pages[vol])
	}
	// A persistent tracker needs no write here: every restored block is in
	// the last checkpoint or in an extent logged hot in the current epoch,
	// because no checkpoint happens while a Frozen is outstanding except at
	// Close, which saves the frozen set too.
	return t.finish(f)
}

// finish ends f's copy-before-write. The exclusive gate waits for writers
// that may be saving into f's store. t.mu is held. The only error is the
// failure to remove the spill file; f has ended all the same.
func (t *Tracker) finish(f *Frozen) error {
	t.gate.Lock()
	t.frozen.CompareAndSwap(f, nil)
	f.done.Store(true)
	t.gate.Unlock()
	if err := f.store.close(); err != nil {
		return fmt.Errorf("delta: frozen set ended, but its spill file was not removed: %w", err)
	}
	return nil
}

// Close ends tracking. A persistent tracker writes its full dirty state —
// the current generation and any outstanding Frozen — and marks the state
// file clean, then closes it. An outstanding Frozen ends (its blocks stay
// dirty in the saved state). Close waits for writes in flight (a
// BeginWrite not yet ended). It is idempotent; afterwards Mark, Freeze and
// writes return ErrClosed.
func (t *Tracker) Close() error {
	t.mu.Lock()
	defer t.mu.Unlock()
	s := t.state.Load()
	if errors.Is(s.err, ErrClosed) {
		return nil
	}
	t.gate.Lock()
	f := t.frozen.Load()
	var err error
	if t.pers != nil && s.err == nil {
		var extra *generation
		if f != nil {
			extra = f.gen
		}
		err = t.pers.checkpoint(t, extra, true, nil)
	}
	if err == nil {
		err = s.err // a failed state file: the saved state is not clean
	}
	t.state.Store(&trackState{gen: s.gen, err: ErrClosed})
	t.frozen.Store(nil)
	if f != nil {
		f.done.Store(true)
	}
	t.gate.Unlock()
	if f != nil {
		if cerr := f.store.close(); err == nil {
			err = cerr
		}
	}
	if t.pers != nil {
		if cerr := t.pers.f.Close(); err == nil {
			err = cerr
		}
	}
	return err
}
