package checkpoint

import (
	"fmt"
	"time"

	"github.com/blockrep/blockrep/delta"
)

// Limits of a group.
const (
	// MaxVolumes bounds the volumes of one group.
	MaxVolumes = 256
	// MaxMetaSize bounds the group's metadata blob.
	MaxMetaSize = 1 << 20
	// MaxPoints bounds the chain of one group (retention keeps far fewer).
	MaxPoints = 4096
	// MaxPins bounds the pins of one group.
	MaxPins = 4096
	// DefaultSpacing is the spacing of additional points when Retention
	// leaves it zero: one an hour, as Hyper-V Replica keeps them.
	DefaultSpacing = time.Hour
)

// GroupSpec describes a group: its volumes (in order), block size, metadata
// blob and retention.
type GroupSpec struct {
	Volumes   []delta.VolumeInfo
	BlockSize int    // 0 means delta.DefaultBlockSize
	Meta      []byte // opaque, at most MaxMetaSize
	Retention Retention
}

// Geometries returns the geometry of every volume.
func (s GroupSpec) Geometries() []delta.Geometry {
	gs := make([]delta.Geometry, len(s.Volumes))
	for i, v := range s.Volumes {
		gs[i] = delta.Geometry{Size: v.Size, BlockSize: s.BlockSize}
	}
	return gs
}

// validate checks s and fills the block size default.
func (s *GroupSpec) validate() error {
	if s.BlockSize == 0 {
		s.BlockSize = delta.DefaultBlockSize
	}
	if len(s.Volumes) == 0 || len(s.Volumes) > MaxVolumes {
		return fmt.Errorf("%w: %d volumes, want 1..%d", ErrInvalidSpec, len(s.Volumes), MaxVolumes)
	}
	if len(s.Meta) > MaxMetaSize {
		return fmt.Errorf("%w: metadata of %d bytes exceeds %d", ErrInvalidSpec, len(s.Meta), MaxMetaSize)
	}
	seen := make(map[string]bool, len(s.Volumes))
	for i, v := range s.Volumes {
		if err := (delta.Geometry{Size: v.Size, BlockSize: s.BlockSize}).Validate(); err != nil {
			return fmt.Errorf("%w: volume %d: %w", ErrInvalidSpec, i, err)
		}
		if v.ID == "" || len(v.ID) > MaxNameLen || seen[v.ID] {
			return fmt.Errorf("%w: volume %d: id %q empty, too long or duplicate", ErrInvalidSpec, i, v.ID)
		}
		seen[v.ID] = true
	}
	return s.Retention.validate()
}

// Retention says which points a group keeps besides the latest one.
// The zero value keeps the latest point only.
type Retention struct {
	// Additional is how many older points to keep, at most one per
	// Spacing slot (0: latest only). Hyper-V Replica allows up to 24;
	// any count up to MaxPoints-1 works here.
	Additional int
	// Spacing is the width of a slot; 0 means DefaultSpacing (one hour).
	Spacing time.Duration
	// KeepApp prefers, within a slot, the newest app-consistent point over
	// newer crash-consistent ones.
	KeepApp bool
}

func (r Retention) validate() error {
	if r.Additional < 0 || r.Additional >= MaxPoints || r.Spacing < 0 {
		return fmt.Errorf("%w: retention %+v", ErrInvalidSpec, r)
	}
	return nil
}

func (r Retention) spacing() time.Duration {
	if r.Spacing == 0 {
		return DefaultSpacing
	}
	return r.Spacing
}

// Point describes one recovery point.
type Point struct {
	ID          delta.PointID
	Base        delta.PointID     // the point the delta that made it was based on
	Time        time.Time         // the instant the point represents (from the delta)
	Applied     time.Time         // when the store committed it (store clock)
	Consistency delta.Consistency // crash- or app-consistent
	Size        int64             // bytes of the delta stream that made it
	UndoSize    int64             // bytes of undo log kept to reach it (0 for the latest)
	Changed     []*delta.Set      // per volume, the blocks changed since the previous point
	Hash        delta.Hash        // content hash: delta.GroupRoot of the volumes' block hashes
}

// ChangedBlocks returns the number of blocks in p.Changed over all volumes.
func (p Point) ChangedBlocks() int64 {
	var n int64
	for _, s := range p.Changed {
		n += s.Count()
	}
	return n
}

// Pin is a durable hold on a point.
type Pin struct {
	Point  delta.PointID
	Holder string
	Since  time.Time
}

// ApplyResult reports what Apply did.
type ApplyResult struct {
	Point    Point           // the new latest point (or the replayed one)
	Replayed bool            // the delta's point was already in the chain; nothing was applied
	Pruned   []delta.PointID // points retention removed after the apply
}

// Recovery reports what opening a group found.
type Recovery struct {
	// Op is the interrupted operation: "" (none), "apply" or "rollback".
	Op string
	// Outcome is "rolled back" (an apply that had not committed was undone),
	// "completed" (a committed apply's clean-up or a rollback was finished),
	// or "".
	Outcome string
	// Point is the point the group is at after opening (zero if none).
	Point delta.PointID
}
