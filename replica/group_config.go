package replica

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/blockrep/blockrep/checkpoint"
	"github.com/blockrep/blockrep/delta"
)

// Replication frequencies Hyper-V Replica offers; any duration of at
// least MinFrequency works.
const (
	Frequency30s = 30 * time.Second
	Frequency5m  = 5 * time.Minute
	Frequency15m = 15 * time.Minute

	// MinFrequency is the shortest frequency Enable accepts.
	MinFrequency = Frequency30s
	// DefaultFrequency is used when GroupConfig.Frequency is zero.
	DefaultFrequency = Frequency5m
)

// Volume is one block image of a group: readable and writable at offsets.
// A file, a device, a memory buffer.
type Volume interface {
	io.ReaderAt
	io.WriterAt
}

// VolumeConfig describes one volume of a group.
type VolumeConfig struct {
	// Name identifies the volume on the replica: 1..255 printable ASCII
	// bytes without '/', not "." or "..", unique in the group.
	Name string
	// Volume is the image. The host writes through Relationship.Volume,
	// never to Volume directly, so that every write is tracked.
	Volume Volume
	// Size is the volume's size in bytes.
	Size int64
	// Excluded keeps the volume out of replication: Relationship.Volume
	// returns it unwrapped and the replica never sees it.
	Excluded bool
}

// InitialMode says how the first full copy reaches the replica.
type InitialMode uint8

// The initial replication modes.
const (
	// Network sends the full copy over the transport.
	Network InitialMode = iota
	// Media exports the full copy to offline media (Initial.MediaDir) and
	// waits for ReplicaHost.Import on the replica; writes made meanwhile go
	// in the first cycle after the import.
	Media
	// Seed starts from an existing copy on the replica
	// (ReplicaHost.Seed) and sends only the blocks whose hashes differ.
	Seed
)

// InitialReplication says how and when the first full copy is sent.
type InitialReplication struct {
	// Mode is how: Network (the default), Media or Seed.
	Mode InitialMode
	// At schedules the copy: PrimaryHost.Run starts it at this time on the
	// host's clock; the zero time means as soon as Run runs. A caller may
	// also start it at any time with Relationship.InitialReplication.
	At time.Time
	// Progress, when set, is called as the copy goes with the bytes sent
	// and the bytes to send in all. It must return quickly.
	Progress func(done, total int64)
	// MediaDir is where Mode Media writes the stream (a fresh directory on
	// a removable disk). Required with Media.
	MediaDir string
	// MediaPartSize is the size of the stream's part files with Media
	// (0 means media.DefaultPartSize).
	MediaPartSize int64
}

// QuiesceFunc brings the applications writing to a group to a consistent
// state and returns a function that lets them go on (see
// delta.QuiesceFunc).
type QuiesceFunc = delta.QuiesceFunc

// GroupConfig describes a group to replicate.
type GroupConfig struct {
	// ID names the group on both sides: 1..255 bytes of [A-Za-z0-9._-].
	ID string
	// Volumes are the group's volumes, in order; at least one included.
	Volumes []VolumeConfig
	// Metadata is an opaque blob kept with the group on the replica (a
	// VM's configuration), at most delta.MaxMeta bytes.
	Metadata []byte
	// FailoverSettings are opaque settings for a failover (the IP address
	// to use), at most MaxFailoverSettings bytes, kept on the replica.
	FailoverSettings []byte
	// Replica is the address of the replica host, dialed with the host's
	// transport.
	Replica string
	// Frequency is the interval between cycles: zero means
	// DefaultFrequency; otherwise at least MinFrequency.
	Frequency time.Duration
	// Retention says which recovery points the replica keeps besides the
	// latest: Additional points, at most one per Spacing (default hourly).
	Retention checkpoint.Retention
	// AppConsistentInterval, when positive, makes a cycle app-consistent
	// (Quiesce runs around its freeze) when at least this long has passed
	// since the last app-consistent one. It needs Quiesce.
	AppConsistentInterval time.Duration
	// Quiesce is the hook that makes a freeze app-consistent.
	Quiesce QuiesceFunc
	// NoCompression turns zstd compression of deltas off (it is on by
	// default).
	NoCompression bool
	// BlockSize is the unit of tracking and transfer: a power of two from
	// 4 KiB to 4 MiB; zero means delta.DefaultBlockSize (64 KiB).
	BlockSize int
	// Initial says how and when the first full copy is sent.
	Initial InitialReplication
	// TrackerState, when set, makes change tracking persistent: the
	// tracker keeps its state in this file (delta.CreateTrackerFile on
	// Enable, delta.OpenTrackerFile on Reattach). Once Enable or Reattach
	// succeeds the relationship owns the file and closes it on Remove or
	// Close; on their error the caller keeps it.
	TrackerState delta.StateFile
	// ResyncWindow, when set, lets PrimaryHost.Run resynchronize the group
	// by itself, inside this daily window, whenever it is
	// ResynchronizationRequired; nil leaves resynchronization to
	// Relationship.Resynchronize.
	ResyncWindow *ResyncWindow
}

// Validate checks the configuration and reports the first problem,
// wrapping ErrInvalidConfig.
func (c *GroupConfig) Validate() error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: group %q: %s", ErrInvalidConfig, c.ID, fmt.Sprintf(format, args...))
	}
	if err := checkpoint.ValidGroupID(c.ID); err != nil {
		return bad("%v", err)
	}
	bs := c.BlockSize
	if bs == 0 {
		bs = delta.DefaultBlockSize
	}
	included := 0
	seen := make(map[string]bool, len(c.Volumes))
	for i, v := range c.Volumes {
		if !validVolumeID(v.Name) || seen[v.Name] {
			return bad("volume %d: name %q invalid or repeated", i, v.Name)
		}
		seen[v.Name] = true
		if v.Volume == nil {
			return bad("volume %d (%s): nil Volume", i, v.Name)
		}
		if err := (delta.Geometry{Size: v.Size, BlockSize: bs}).Validate(); err != nil {
			return bad("volume %d (%s): %v", i, v.Name, err)
		}
		if !v.Excluded {
			included++
		}
	}
	if included == 0 || included > delta.MaxVolumes {
		return bad("%d included volumes, want 1..%d", included, delta.MaxVolumes)
	}
	if len(c.Metadata) > delta.MaxMeta {
		return bad("metadata of %d bytes exceeds %d", len(c.Metadata), delta.MaxMeta)
	}
	if len(c.FailoverSettings) > MaxFailoverSettings {
		return bad("failover settings of %d bytes exceed %d", len(c.FailoverSettings), MaxFailoverSettings)
	}
	if c.Replica == "" {
		return bad("no replica address")
	}
	if c.Frequency != 0 && c.Frequency < MinFrequency {
		return bad("frequency %s is below %s", c.Frequency, MinFrequency)
	}
	if c.Retention.Additional < 0 || c.Retention.Additional >= checkpoint.MaxPoints || c.Retention.Spacing < 0 {
		return bad("retention %+v", c.Retention)
	}
	if c.AppConsistentInterval < 0 || (c.AppConsistentInterval > 0 && c.Quiesce == nil) {
		return bad("app-consistent interval %s needs a Quiesce hook", c.AppConsistentInterval)
	}
	if c.ResyncWindow != nil {
		if err := c.ResyncWindow.Validate(); err != nil {
			return bad("%v", err)
		}
	}
	if err := c.Initial.validate(); err != nil {
		return bad("%v", err)
	}
	return nil
}

// frequency returns the effective frequency.
func (c *GroupConfig) frequency() time.Duration {
	if c.Frequency == 0 {
		return DefaultFrequency
	}
	return c.Frequency
}

// noQuiesce is the quiesce hook of a freeze that is not app-consistent.
func noQuiesce(context.Context) (func(), error) { return func() {}, nil }
