package delta

import (
	"context"
	"fmt"
	"math/bits"
	"time"
)

// TrackerOption configures a Tracker; see the With… functions. An option
// that is given an out-of-range value makes the constructor fail.
type TrackerOption func(*trackerOptions) error

// QuiesceFunc brings the applications writing to a group's volumes to a
// consistent state (flush, pause) and returns a function that lets them go
// on. Freeze calls it before the freeze instant and calls resume right after;
// the Frozen is then app-consistent. An error aborts the Freeze.
type QuiesceFunc func(ctx context.Context) (resume func(), err error)

// Defaults of the tracker options.
const (
	// DefaultCaptureMemory bounds the memory copy-before-write uses before it
	// spills saved blocks to a temporary file.
	DefaultCaptureMemory = 64 << 20
	// DefaultExtentBlocks is the number of blocks of one activity-log extent:
	// 64 blocks, 4 MiB at the default block size.
	DefaultExtentBlocks = 64
)

type trackerOptions struct {
	quiesce      QuiesceFunc
	captureMem   int64
	spillDir     string
	extentBlocks int
	now          func() time.Time
	repeatable   bool
}

func defaultTrackerOptions() trackerOptions {
	return trackerOptions{
		captureMem:   DefaultCaptureMemory,
		extentBlocks: DefaultExtentBlocks,
		now:          time.Now,
	}
}

// WithQuiesce sets a hook that Freeze runs around the freeze instant so the
// frozen image is app-consistent. Default: none (crash-consistent). The hook
// may write to tracked volumes but must not call the Tracker's Freeze,
// Commit, Restore or Close.
func WithQuiesce(q QuiesceFunc) TrackerOption {
	return func(o *trackerOptions) error {
		o.quiesce = q
		return nil
	}
}

// WithCaptureMemory bounds, in bytes, the memory that holds blocks saved by
// copy-before-write while a Frozen is outstanding; blocks beyond it go to a
// temporary file, never dropped. Default DefaultCaptureMemory; 0 spills
// every saved block.
func WithCaptureMemory(n int64) TrackerOption {
	return func(o *trackerOptions) error {
		if n < 0 {
			return fmt.Errorf("%w: capture memory %d is negative", ErrLimit, n)
		}
		o.captureMem = n
		return nil
	}
}

// WithSpillDir names the directory for the copy-before-write spill file.
// Default (or ""): os.TempDir(). The file (mode 0600, named
// blockrep-cbw-*) is created only when memory runs out and is removed when
// its Frozen ends; a process that dies leaves it behind. It holds volume
// data: pick a directory no other user can read.
func WithSpillDir(dir string) TrackerOption {
	return func(o *trackerOptions) error {
		o.spillDir = dir
		return nil
	}
}

// WithExtentBlocks sets how many blocks make one activity-log extent of a
// persistent tracker: a power of two, 1 to 1<<20. Bigger extents log less
// often but make more blocks dirty after a crash. Default
// DefaultExtentBlocks. A tracker opened from a state file recovers with the
// extent size the file was written with and uses this one afterwards.
func WithExtentBlocks(n int) TrackerOption {
	return func(o *trackerOptions) error {
		if n < 1 || n > 1<<20 || bits.OnesCount(uint(n)) != 1 {
			return fmt.Errorf("%w: extent of %d blocks is not a power of two in 1..%d", ErrLimit, n, 1<<20)
		}
		o.extentBlocks = n
		return nil
	}
}

// WithFreezeClock sets the clock that stamps Frozen.Time. Default time.Now.
func WithFreezeClock(now func() time.Time) TrackerOption {
	return func(o *trackerOptions) error {
		if now == nil {
			return fmt.Errorf("delta: WithFreezeClock: nil clock")
		}
		o.now = now
		return nil
	}
}

// WithRepeatableCapture makes every read of a frozen block repeatable until
// the Frozen ends, so a cycle may encode the same Frozen again (a resend
// after a cut connection). The price: copy-before-write saves every frozen
// block the host writes during the Frozen's life, where by default a block
// already read by the capture is not saved and a second read of it after a
// write returns ErrCaptureExpired. Default false.
func WithRepeatableCapture(on bool) TrackerOption {
	return func(o *trackerOptions) error {
		o.repeatable = on
		return nil
	}
}
