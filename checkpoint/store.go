package checkpoint

import (
	"context"
	"io"

	"github.com/blockrep/blockrep/delta"
)

// Store holds the groups a replica host keeps. The directory-backed
// implementation is *DirStore (see Open); another implementation (an object
// store) must honour the same contracts and pass checkpointtest.Run.
type Store interface {
	// CreateGroup creates a group with zero-filled volumes and no point.
	// It returns ErrInvalidGroupID, ErrInvalidSpec or ErrGroupExists.
	CreateGroup(ctx context.Context, id string, spec GroupSpec) (Group, error)

	// Group opens an existing group, first completing or rolling back an
	// operation a crash interrupted (Group.Recovered says which). It
	// returns ErrInvalidGroupID, ErrUnknownGroup or a *DamagedError.
	Group(ctx context.Context, id string) (Group, error)

	// Groups lists the ids of the groups in the store, sorted.
	Groups(ctx context.Context) ([]string, error)

	// RemoveGroup deletes a group and everything it holds. It returns
	// ErrPinned while the group has pins or open views or clones.
	RemoveGroup(ctx context.Context, id string) error

	// Close releases every open group. Views and clones stop working.
	// Calls after Close return ErrClosed; Close is idempotent.
	Close() error
}

// Group is the store of one group: its live replica volumes, always at the
// latest point, and the chain of older recovery points. All methods are safe
// for concurrent use; reads of any point may run while a delta is applied.
type Group interface {
	// ID returns the group id.
	ID() string

	// Spec returns the volumes, block size, metadata and retention.
	Spec() GroupSpec

	// Recovered reports what opening the group found and did.
	Recovered() Recovery

	// Apply verifies a whole delta stream whose base is the latest point
	// (the zero PointID for the first one), then applies it crash-safely as
	// the new latest point and prunes what retention no longer keeps.
	// A stream whose new point is already in the chain is acknowledged
	// (Replayed) without being applied again. Errors: ErrBaseMismatch,
	// ErrVolumeMismatch, delta.ErrCorrupt and delta.ErrLimit for bad input;
	// I/O errors (ENOSPC) leave the store at its last committed point.
	Apply(ctx context.Context, r io.Reader) (ApplyResult, error)

	// Points returns the chain, oldest first.
	Points(ctx context.Context) ([]Point, error)

	// Latest returns the latest point, or ErrNoPoint.
	Latest(ctx context.Context) (Point, error)

	// OpenPoint returns a read-only view of every volume as of point id.
	// A view holds the point: retention does not prune it until Close.
	OpenPoint(ctx context.Context, id delta.PointID) (View, error)

	// Export writes every volume as of point id to dst[i] (one per
	// volume, len(dst) must equal the volume count), skipping ranges that
	// are zero when the destination is known to be zero-filled.
	Export(ctx context.Context, id delta.PointID, dst []io.WriterAt, opts ...ExportOption) error

	// Clone creates a writable copy-on-write clone of point id named name
	// (for a test failover). The point is pinned with holder "clone:"+name
	// until the clone is discarded. Errors: ErrCloneExists, ErrInvalidName.
	Clone(ctx context.Context, id delta.PointID, name string) (Clone, error)

	// Clones lists the names of the clones on disk, including those left
	// by a previous process (reopen them with OpenClone, or discard them
	// with DiscardClone).
	Clones(ctx context.Context) ([]string, error)

	// OpenClone returns clone name: the open one, or one an earlier
	// process left, reopened with every write its last Clone.Sync made
	// durable. Errors: ErrInvalidName; ErrUnknownClone when there is no
	// such clone, or only what an interrupted Clone or Discard left (which
	// DiscardClone removes); a *DamagedError when its files cannot be
	// trusted.
	OpenClone(ctx context.Context, name string) (Clone, error)

	// DiscardClone removes the clone's data and its pin.
	DiscardClone(ctx context.Context, name string) error

	// Pin holds point id for holder: retention never removes a pinned
	// point. Pins are durable. Pinning twice with the same holder is a no-op.
	Pin(ctx context.Context, id delta.PointID, holder string) error

	// Unpin releases holder's pin of point id (a no-op if none) and
	// prunes what retention no longer keeps. A point that only this pin
	// kept goes in the same commit as the pin: no reader sees it unpinned
	// and still there.
	Unpin(ctx context.Context, id delta.PointID, holder string) error

	// DropBefore removes every point older than id, whatever the
	// retention, except those a pin or an open view holds; those go as
	// soon as nothing holds them any more (a later Unpin, Prune or apply
	// removes them). The mark is durable and only moves forward: it
	// follows the chain when point id itself is pruned, and a Rollback to
	// a point older than id clears it. CompleteFailover uses it to drop the
	// points it abandons. It returns ErrUnknownPoint when id is not in
	// the chain.
	DropBefore(ctx context.Context, id delta.PointID) error

	// Pins lists the pins, by point age then holder.
	Pins(ctx context.Context) ([]Pin, error)

	// ChangedBlocks returns, per volume, the blocks that differ between
	// point from and the later point to: the union of the block sets of the
	// points after from up to to. A zero from means "from nothing" and
	// returns every block.
	ChangedBlocks(ctx context.Context, from, to delta.PointID) ([]*delta.Set, error)

	// Rollback makes point id the live state and discards every newer
	// point. It returns ErrPinned when one of them is pinned or open.
	Rollback(ctx context.Context, id delta.PointID) error

	// Verify recomputes point id's content hash from its view and compares
	// it with the hash recorded at apply time: ErrVerifyFailed if they differ.
	Verify(ctx context.Context, id delta.PointID) error

	// SetMeta replaces the group's metadata blob (at most MaxMetaSize).
	SetMeta(ctx context.Context, meta []byte) error

	// SetRetention replaces the retention policy and prunes accordingly.
	SetRetention(ctx context.Context, r Retention) error

	// Prune removes the points retention no longer keeps and returns them.
	Prune(ctx context.Context) ([]delta.PointID, error)
}

// View is the content of every volume of a group as of one point. It does
// not copy the volumes: it overlays undo-log blocks on the live volumes.
type View interface {
	// Point returns the point the view shows.
	Point() Point
	// Volumes returns one reader per volume, in group order.
	Volumes() []VolumeReader
	// Close releases the point; reads after Close return ErrClosed.
	Close() error
}

// VolumeReader reads one volume of a view. It is safe for concurrent use.
type VolumeReader interface {
	io.ReaderAt
	// Size returns the volume size in bytes.
	Size() int64
	// ID returns the volume id.
	ID() string
}

// VolumeReadWriter is one writable volume of a clone.
type VolumeReadWriter interface {
	VolumeReader
	io.WriterAt
}

// Clone is a writable, throw-away copy of a point: reads come from the
// point until a block is written, writes go to a sparse overlay.
type Clone interface {
	// Name returns the clone's name.
	Name() string
	// Point returns the point the clone started from.
	Point() Point
	// Volumes returns one read-write volume per group volume.
	Volumes() []VolumeReadWriter
	// Sync makes every write that completed before the call durable:
	// after a crash, Group.OpenClone returns the clone with those writes.
	// A write after the last Sync may or may not survive a crash, block by
	// block (a block written after it reads as of that Sync or with some
	// of the later writes). Writes wait while Sync runs.
	Sync() error
	// WrittenBlocks returns, per volume, the blocks written to the clone
	// (after a reopen: those the last Sync recorded).
	WrittenBlocks() []*delta.Set
	// Discard deletes the overlay and unpins the point. It is idempotent.
	Discard(ctx context.Context) error
}
