package checkpoint

import (
	"fmt"
	"log/slog"
	"time"
)

// Option configures Open.
type Option func(*options) error

type options struct {
	logger     *slog.Logger
	now        func() time.Time
	batchBytes int
	stageMem   int
	maxIndex   int64
	// hashLogCompact overrides compactAt (tests set it to exercise
	// compaction with small volumes).
	hashLogCompact int64
}

func defaultOptions() options {
	return options{
		logger:     slog.New(slog.DiscardHandler),
		now:        time.Now,
		batchBytes: 16 << 20,
		stageMem:   64 << 20,
		maxIndex:   8 << 20,
	}
}

// WithLogger sets the logger; nil (the default) discards.
func WithLogger(l *slog.Logger) Option {
	return func(o *options) error {
		if l == nil {
			l = slog.New(slog.DiscardHandler)
		}
		o.logger = l
		return nil
	}
}

// WithClock sets the clock used for the Applied time of points and the
// Since time of pins (default time.Now).
func WithClock(now func() time.Time) Option {
	return func(o *options) error {
		if now == nil {
			return fmt.Errorf("checkpoint: WithClock(nil)")
		}
		o.now = now
		return nil
	}
}

// WithApplyBatch sets how many bytes of block data Apply writes per batch,
// and bounds the undo records it buffers before writing and syncing them
// (at most 8 MiB of those; default 16 MiB, at least 64 KiB, at most 1 GiB).
// Larger batches mean fewer, larger writes and more memory.
func WithApplyBatch(bytes int) Option {
	return func(o *options) error {
		if bytes < 64<<10 || bytes > 1<<30 {
			return fmt.Errorf("checkpoint: apply batch %d outside 64 KiB..1 GiB", bytes)
		}
		o.batchBytes = bytes
		return nil
	}
}

// WithStageMemory sets how many bytes of a verified delta's decoded
// records Apply may keep in memory (default 64 MiB, at most 1 GiB); what
// outgrows the memory in use is staged in the group's staging/ directory,
// the rest stays in memory. The memory in use grows from apply to apply:
// 4 MiB for a store's first apply, then up to twice what the previous
// applies touched, up to this limit, and the store keeps that buffer
// between applies, so an apply reuses memory instead of touching fresh
// pages (which costs more than the staging file's background writes).
// 0 always stages on disk.
func WithStageMemory(bytes int) Option {
	return func(o *options) error {
		if bytes < 0 || bytes > 1<<30 {
			return fmt.Errorf("checkpoint: stage memory %d outside 0..1 GiB", bytes)
		}
		o.stageMem = bytes
		return nil
	}
}

// WithMaxIndexEntries bounds the undo-log index entries (one per saved
// block, some 60 bytes of memory each) a group keeps in memory across all
// its logs: default 8 Mi, enough for 512 GiB of saved 64 KiB blocks. A
// view whose chain needs more fails with delta.ErrLimit instead of
// exhausting memory.
func WithMaxIndexEntries(n int64) Option {
	return func(o *options) error {
		if n < 1 {
			return fmt.Errorf("checkpoint: max index entries %d < 1", n)
		}
		o.maxIndex = n
		return nil
	}
}
