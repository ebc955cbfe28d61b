package replica_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/blockrep/blockrep/checkpoint"
	"github.com/blockrep/blockrep/checkpoint/vfs"
	"github.com/blockrep/blockrep/replica"
	"github.com/blockrep/blockrep/replica/replicatest"
	"github.com/blockrep/blockrep/transport"
	"github.com/blockrep/blockrep/transport/memory"
)

// exampleSite is a primary host and a replica host on an in-memory
// network, for the examples.
type exampleSite struct {
	store   *checkpoint.DirStore
	replica *replica.ReplicaHost
	primary *replica.PrimaryHost
	stop    func()
}

func newExampleSite(ctx context.Context) *exampleSite {
	ctx, cancel := context.WithCancel(ctx)
	clock := replicatest.NewClock(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	network, _ := memory.NewNetwork(1)
	store, _ := checkpoint.Open(vfs.NewMem(), "replica-store")
	auth, _ := transport.NewAuthorizer([]transport.AuthEntry{{Peer: "hv1", Group: "*", Storage: "."}})
	listener, _ := network.Endpoint("hv2").Listen(ctx, "hv2:7300")
	replicaHost, _ := replica.NewReplicaHost(replica.ReplicaConfig{Listener: listener, Store: store, Authorizer: auth, Clock: clock})
	served := make(chan error, 1)
	go func() { served <- replicaHost.Serve(ctx) }()
	primary, _ := replica.NewPrimaryHost(replica.PrimaryConfig{Transport: network.Endpoint("hv1"), Clock: clock})
	return &exampleSite{store: store, replica: replicaHost, primary: primary, stop: func() {
		primary.Close()
		cancel()
		<-served
		listener.Close()
		store.Close()
	}}
}

// The initial copy of a group travels on a removable disk: the primary
// exports it, the replica imports it, and the primary's next attempt
// finds the point and starts replicating; the first cycle sends what was
// written while the disk was on its way.
func ExampleReplicaHost_Import() {
	ctx := context.Background()
	site := newExampleSite(ctx)
	defer site.stop()
	usb, _ := os.MkdirTemp("", "usb")
	defer os.RemoveAll(usb)

	disk := newMemVolume(4 << 20)
	disk.WriteAt(bytes.Repeat([]byte("boot"), 1<<18), 0) // the first 1 MiB
	rel, err := site.primary.Enable(ctx, replica.GroupConfig{
		ID:      "vm-42",
		Volumes: []replica.VolumeConfig{{Name: "system", Volume: disk, Size: 4 << 20}},
		Replica: "hv2:7300",
		Initial: replica.InitialReplication{Mode: replica.Media, MediaDir: filepath.Join(usb, "vm-42")},
	})
	if err != nil {
		fmt.Println("enable:", err)
		return
	}
	exp, err := rel.InitialReplication(ctx) // writes the disk, sends nothing
	if err != nil {
		fmt.Println("export:", err)
		return
	}
	fmt.Println("exported blocks:", exp.Blocks, "state:", rel.State())
	rel.Volume(0).WriteAt([]byte("written meanwhile"), 2<<20)
	_, err = rel.InitialReplication(ctx) // what Run does with back-off
	fmt.Println("before the import:", errors.Is(err, replica.ErrSeedMissing))

	// On the replica's site, the operator plugs the disk in.
	imp, err := site.replica.Import(ctx, filepath.Join(usb, "vm-42"))
	if err != nil {
		fmt.Println("import:", err)
		return
	}
	fmt.Println("imported the exported point:", imp.Point.ID == exp.Point)

	if _, err := rel.InitialReplication(ctx); err != nil {
		fmt.Println("after the import:", err)
		return
	}
	fmt.Println("state:", rel.State())
	c, err := rel.Cycle(ctx)
	if err != nil {
		fmt.Println("cycle:", err)
		return
	}
	fmt.Println("first cycle sends the blocks written meanwhile:", c.Blocks)
	// Output:
	// exported blocks: 16 state: InitialReplicationInProgress
	// before the import: true
	// imported the exported point: true
	// state: Replicating
	// first cycle sends the blocks written meanwhile: 1
}

// The replica holds an older copy of the group (restored from a backup):
// seeded with it, the initial replication sends only the blocks whose
// hashes differ.
func ExampleReplicaHost_Seed() {
	ctx := context.Background()
	site := newExampleSite(ctx)
	defer site.stop()

	disk := newMemVolume(4 << 20)
	disk.WriteAt(bytes.Repeat([]byte("data"), 1<<20), 0) // all 64 blocks of 64 KiB
	backup := disk.snapshot()
	disk.WriteAt([]byte("changed since the backup"), 10<<16)
	disk.WriteAt([]byte("and here"), 50<<16)

	rel, err := site.primary.Enable(ctx, replica.GroupConfig{
		ID:      "vm-42",
		Volumes: []replica.VolumeConfig{{Name: "system", Volume: disk, Size: 4 << 20}},
		Replica: "hv2:7300",
		Initial: replica.InitialReplication{Mode: replica.Seed},
	})
	if err != nil {
		fmt.Println("enable:", err)
		return
	}
	if _, err := site.replica.Seed(ctx, "vm-42", []io.ReaderAt{bytes.NewReader(backup)}); err != nil {
		fmt.Println("seed:", err)
		return
	}
	res, err := rel.InitialReplication(ctx)
	if err != nil {
		fmt.Println("initial replication:", err)
		return
	}
	fmt.Println("state:", rel.State())
	fmt.Println("blocks sent:", res.Blocks, "of 64")
	// Output:
	// state: Replicating
	// blocks sent: 2 of 64
}
