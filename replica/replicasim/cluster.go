package replicasim

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"math/rand/v2"
	"os"
	"time"

	"github.com/blockrep/blockrep/checkpoint"
	"github.com/blockrep/blockrep/checkpoint/vfs"
	"github.com/blockrep/blockrep/delta"
	"github.com/blockrep/blockrep/replica"
	"github.com/blockrep/blockrep/replica/replicatest"
	"github.com/blockrep/blockrep/transport"
	"github.com/blockrep/blockrep/transport/memory"
)

// Names of the cluster's endpoints and the replicas' addresses.
const (
	PrimaryName     = "primary"
	ReplicaName     = "replica"
	ReplicaAddress  = "replica:1"
	ExtendedName    = "extended"
	ExtendedAddress = "extended:1"
	storeRoot       = "store"
)

// Epoch is the fake clock's start.
var Epoch = time.Date(2026, 1, 5, 0, 0, 0, 0, time.UTC)

// Cluster is a primary host, a replica host and an extended replica host
// in one process: in-memory volumes, the in-memory network, one fake clock,
// and a vfs.MemFS under each replica's checkpoint store and under the
// primary's tracker state file, so that any host can crash at any operation
// of its filesystem and restart on what survived. The replica forwards to
// the extended replica once ReplicaHost.Extend is called for the group. It
// is for tests, not for production.
//
// The primary replicates one group, named "vm" and a generation number
// that grows each time the volumes are protected anew (after a completed
// failover). Methods are not safe for concurrent use.
type Cluster struct {
	cfg    Config
	log    *slog.Logger
	clock  *replicatest.Clock
	delays *delayClock
	net    *memory.Network
	ids    io.Reader

	rep *side // the replica
	ext *side // the extended replica

	pfs  *vfs.MemFS
	ph   *replica.PrimaryHost
	rel  *replica.Relationship
	vols []*memVolume
	gen  int
	last delta.PointID // the last acknowledged point, as the host keeps it for Reattach
}

// NewCluster starts a cluster for cfg: the replica host serves, the primary
// host has no relationship yet (Enable makes it).
func NewCluster(ctx context.Context, cfg Config) (*Cluster, error) {
	cfg, err := cfg.resolve()
	if err != nil {
		return nil, err
	}
	c := &Cluster{
		cfg:    cfg,
		log:    cfg.Logger,
		clock:  replicatest.NewClock(Epoch),
		delays: newDelayClock(),
		ids:    rand.NewChaCha8(seedBytes(cfg.Seed)),
		pfs:    vfs.NewMem(),
	}
	if c.log == nil {
		c.log = slog.New(slog.DiscardHandler)
	}
	c.net, err = memory.NewNetwork(int64(cfg.Seed), memory.WithClock(c.delays), memory.WithWindow(256<<10))
	if err != nil {
		c.delays.close()
		return nil, err
	}
	for range cfg.Volumes {
		c.vols = append(c.vols, newMemVolume(cfg.VolumeSize))
	}
	if c.rep, err = c.openSide(ctx, vfs.NewMem(), ReplicaName, ReplicaAddress, PrimaryName); err != nil {
		c.delays.close()
		return nil, err
	}
	if c.ext, err = c.openSide(ctx, vfs.NewMem(), ExtendedName, ExtendedAddress, ReplicaName); err != nil {
		c.rep.close()
		c.delays.close()
		return nil, err
	}
	if err := c.startPrimary(); err != nil {
		c.ext.close()
		c.rep.close()
		c.delays.close()
		return nil, err
	}
	return c, nil
}

func seedBytes(seed uint64) [32]byte {
	var b [32]byte
	for i := range 8 {
		b[i] = byte(seed >> (8 * i))
	}
	b[8] = 0x1d
	return b
}

// Config returns the configuration with the fields drawn from the seed.
func (c *Cluster) Config() Config { return c.cfg }

// Clock returns the fake clock of both hosts and of the replica's store.
func (c *Cluster) Clock() *replicatest.Clock { return c.clock }

// Network returns the in-memory network between the hosts.
func (c *Cluster) Network() *memory.Network { return c.net }

// PrimaryHost returns the current primary host (a restart makes another).
func (c *Cluster) PrimaryHost() *replica.PrimaryHost { return c.ph }

// ReplicaHost returns the current replica host (a restart makes another).
func (c *Cluster) ReplicaHost() *replica.ReplicaHost { return c.rep.rh }

// Store returns the replica's current checkpoint store.
func (c *Cluster) Store() *checkpoint.DirStore { return c.rep.store }

// ExtendedHost returns the current extended replica host.
func (c *Cluster) ExtendedHost() *replica.ReplicaHost { return c.ext.rh }

// ExtendedStore returns the extended replica's current checkpoint store.
func (c *Cluster) ExtendedStore() *checkpoint.DirStore { return c.ext.store }

// Relationship returns the primary's relationship, or nil when the group is
// not enabled.
func (c *Cluster) Relationship() *replica.Relationship { return c.rel }

// GroupID returns the id of the group the primary replicates now.
func (c *Cluster) GroupID() string { return fmt.Sprintf("vm%d", c.gen) }

// Image returns a copy of every primary volume, as the host sees them.
func (c *Cluster) Image() [][]byte {
	img := make([][]byte, len(c.vols))
	for i, v := range c.vols {
		img[i] = v.snapshot()
	}
	return img
}

// Volume returns volume i as the host writes it: through the relationship's
// tracking when the group is enabled, the raw volume otherwise.
func (c *Cluster) Volume(i int) replica.Volume {
	if c.rel != nil {
		return c.rel.Volume(i)
	}
	return c.vols[i]
}

// Close stops both hosts and the network's delay clock. It reports the first
// error of a host that was not crashed.
func (c *Cluster) Close() error {
	var first error
	if c.ph != nil {
		if err := c.ph.Close(); err != nil && !c.pfs.Crashed() && !errors.Is(err, replica.ErrClosed) {
			first = err
		}
		c.ph = nil
	}
	if err := c.rep.close(); err != nil && first == nil && !c.rep.fs.Crashed() {
		first = err
	}
	if err := c.ext.close(); err != nil && first == nil && !c.ext.fs.Crashed() {
		first = err
	}
	c.delays.close()
	return first
}

// side is one replica host with its store, on a filesystem of its own.
type side struct {
	fs        *vfs.MemFS
	store     *checkpoint.DirStore
	lis       transport.Listener
	rh        *replica.ReplicaHost
	stopServe context.CancelFunc
	served    chan error
}

// openSide opens a store on fsys and serves it at addr to peer, forwarding
// with endpoint name's transport.
func (c *Cluster) openSide(ctx context.Context, fsys *vfs.MemFS, name, addr, peer string) (*side, error) {
	return c.openSideOf(ctx, fsys, name, addr, peer, nil)
}

// openSideOf is openSide for a host whose process also runs primary p (for
// split-brain detection), if not nil.
func (c *Cluster) openSideOf(ctx context.Context, fsys *vfs.MemFS, name, addr, peer string, p *replica.PrimaryHost) (*side, error) {
	opts := []checkpoint.Option{checkpoint.WithClock(c.clock.Now), checkpoint.WithLogger(c.log.With("host", name)), checkpoint.WithApplyBatch(64 << 10)}
	if c.cfg.StageOnDisk {
		opts = append(opts, checkpoint.WithStageMemory(0))
	}
	store, err := checkpoint.Open(fsys, storeRoot, opts...)
	if err != nil {
		return nil, fmt.Errorf("replicasim: open the store of %s: %w", name, err)
	}
	auth, err := transport.NewAuthorizer([]transport.AuthEntry{{Peer: peer, Group: "*", Storage: "."}})
	if err != nil {
		store.Close()
		return nil, err
	}
	lis, err := c.net.Endpoint(name).Listen(ctx, addr)
	if err != nil {
		store.Close()
		return nil, err
	}
	rh, err := replica.NewReplicaHost(replica.ReplicaConfig{
		Listener: lis, Store: store, Authorizer: auth, Clock: c.clock,
		Logger: c.log.With("host", name), Transport: c.net.Endpoint(name), Primary: p,
	})
	if err != nil {
		lis.Close()
		store.Close()
		return nil, err
	}
	sctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	served := make(chan error, 1)
	go func() { served <- rh.Serve(sctx) }()
	return &side{fs: fsys, store: store, lis: lis, rh: rh, stopServe: cancel, served: served}, nil
}

// close stops the host and closes its store and listener.
func (s *side) close() error {
	s.stopServe()
	first := <-s.served
	if err := s.rh.Close(); err != nil && first == nil && !errors.Is(err, replica.ErrClosed) {
		first = err
	}
	s.lis.Close()
	if err := s.store.Close(); err != nil && first == nil {
		first = err
	}
	return first
}

// restart crashes the side's filesystem (unless a crash point did already)
// and serves a store opened on what survived.
func (c *Cluster) restart(ctx context.Context, s *side, name, addr, peer string, seed uint64, torn bool) (*side, error) {
	var next *vfs.MemFS
	if torn {
		next = s.fs.CrashRandom(seed)
	} else {
		next = s.fs.Crash()
	}
	s.close() // the crashed store fails its last writes; that is the point
	return c.openSide(ctx, next, name, addr, peer)
}

func (c *Cluster) startPrimary() error {
	ph, err := replica.NewPrimaryHost(replica.PrimaryConfig{
		Transport: c.net.Endpoint(PrimaryName),
		Clock:     c.clock,
		Logger:    c.log,
		Rand:      c.ids,
		MaxIdle:   -1,
	})
	if err != nil {
		return err
	}
	c.ph = ph
	return nil
}

func (c *Cluster) stateFileName() string { return c.GroupID() + ".track" }

// groupConfig describes the current group, its tracker keeping its state in f.
func (c *Cluster) groupConfig(f vfs.File) replica.GroupConfig {
	cfg := replica.GroupConfig{
		ID:           c.GroupID(),
		Replica:      ReplicaAddress,
		Frequency:    replica.Frequency5m,
		BlockSize:    c.cfg.BlockSize,
		Retention:    checkpoint.Retention{Additional: c.cfg.Retention, Spacing: time.Minute},
		TrackerState: stateFile{f},
		Metadata:     []byte("<vm/>"),
	}
	for i, v := range c.vols {
		cfg.Volumes = append(cfg.Volumes, replica.VolumeConfig{Name: fmt.Sprintf("disk%d", i), Volume: v, Size: c.cfg.VolumeSize})
	}
	return cfg
}

// Enable enables replication of the volumes as the current group, with
// persistent tracking on the primary's filesystem. When the replica holds
// the group with points already (an initial replication whose
// acknowledgement was lost before a restart), it moves to the next
// generation and tries once more.
func (c *Cluster) Enable(ctx context.Context) error {
	if c.rel != nil {
		return fmt.Errorf("replicasim: %s is enabled already", c.GroupID())
	}
	for try := 0; ; try++ {
		f, err := c.pfs.Create(c.stateFileName())
		if err != nil {
			return err
		}
		if err := c.pfs.SyncDir("."); err != nil {
			f.Close()
			return err
		}
		rel, err := c.ph.Enable(ctx, c.groupConfig(f))
		if err != nil {
			f.Close()
			if errors.Is(err, replica.ErrGroupExists) && try == 0 {
				c.gen++
				c.last = delta.PointID{}
				continue
			}
			return err
		}
		c.rel, c.last = rel, delta.PointID{}
		return nil
	}
}

// Protect ends the current relationship and enables the volumes anew as
// the next generation's group (after a completed failover, say).
func (c *Cluster) Protect(ctx context.Context) error {
	if c.rel != nil {
		if err := c.ph.Remove(ctx, c.GroupID()); err != nil && !c.pfs.Crashed() {
			return err
		}
		c.rel = nil
	}
	c.gen++
	c.last = delta.PointID{}
	return c.Enable(ctx)
}

// noteAck records the relationship's last acknowledged point, as a host
// keeps it for Reattach.
func (c *Cluster) noteAck() {
	if c.rel != nil {
		id, _, _ := c.rel.LastPoint()
		if !id.IsZero() {
			c.last = id
		}
	}
}

// CrashPrimary crashes the primary's filesystem (unless a crash point did
// already) and restarts the primary host on what survived: the relationship
// is reattached with the last acknowledged point, or enabled anew when there
// was none.
func (c *Cluster) CrashPrimary(ctx context.Context, seed uint64, torn bool) error {
	var next *vfs.MemFS
	if torn {
		next = c.pfs.CrashRandom(seed)
	} else {
		next = c.pfs.Crash()
	}
	c.ph.Close() // its state file is gone with the crash; errors are expected
	c.ph, c.rel, c.pfs = nil, nil, next
	if err := c.startPrimary(); err != nil {
		return err
	}
	if c.last.IsZero() {
		return c.Enable(ctx)
	}
	f, err := c.pfs.OpenFile(c.stateFileName(), os.O_RDWR, 0)
	if errors.Is(err, fs.ErrNotExist) {
		f, err = c.pfs.Create(c.stateFileName())
	}
	if err != nil {
		return err
	}
	rel, err := c.ph.Reattach(ctx, c.groupConfig(f), c.last)
	if err != nil {
		f.Close()
		return err
	}
	c.rel = rel
	return nil
}

// CrashReplica crashes the replica's filesystem (unless a crash point did
// already) and restarts the replica host on a store opened on what
// survived. torn makes the disk keep part of what was not synced
// (vfs.MemFS.CrashRandom with seed).
func (c *Cluster) CrashReplica(ctx context.Context, seed uint64, torn bool) error {
	rep, err := c.restart(ctx, c.rep, ReplicaName, ReplicaAddress, PrimaryName, seed, torn)
	if err != nil {
		return err
	}
	c.rep = rep
	return nil
}

// CrashExtended crashes the extended replica's filesystem and restarts it
// on what survived.
func (c *Cluster) CrashExtended(ctx context.Context, seed uint64, torn bool) error {
	ext, err := c.restart(ctx, c.ext, ExtendedName, ExtendedAddress, ReplicaName, seed, torn)
	if err != nil {
		return err
	}
	c.ext = ext
	return nil
}
