package delta_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/blockrep/blockrep/delta"
)

// ExampleOpenTracker keeps change tracking across restarts in a state file
// next to the volume, and shows what to do when that file is lost.
func ExampleOpenTracker() {
	dir, err := os.MkdirTemp("", "blockrep-example")
	if err != nil {
		panic(err)
	}
	defer os.RemoveAll(dir)
	state := filepath.Join(dir, "disk0.track")
	geom, _ := delta.NewGeometry(1<<20, delta.DefaultBlockSize)
	geoms := []delta.Geometry{geom}

	tracker, err := delta.CreateTracker(state, geoms)
	if err != nil {
		panic(err)
	}
	tracker.Mark(0, 0, 4096)                // block 0
	tracker.Mark(0, 320_000, 8192)          // blocks 4 and 5
	if err := tracker.Close(); err != nil { // writes the dirty set, marks the file clean
		panic(err)
	}

	// After a restart: exactly the blocks dirty at Close.
	tracker, err = delta.OpenTracker(state, geoms)
	if err != nil {
		panic(err)
	}
	dirty, _ := tracker.Dirty(0)
	for b := range dirty.All() {
		fmt.Println("dirty block", b)
	}
	tracker.Close()

	// The file is gone: which blocks changed is unknown.
	os.Remove(state)
	_, err = delta.OpenTracker(state, geoms)
	if errors.Is(err, delta.ErrTrackingLost) {
		// Track from now on first, then resynchronize the volumes (compare
		// block hashes with the replica); writes meanwhile are tracked.
		tracker, err = delta.CreateTracker(state, geoms)
		if err != nil {
			panic(err)
		}
		fmt.Println("tracking lost: resynchronize")
		tracker.Close()
	}
	// Output:
	// dirty block 0
	// dirty block 4
	// dirty block 5
	// tracking lost: resynchronize
}

// exampleDisk is a volume in memory.
type exampleDisk []byte

func (d exampleDisk) ReadAt(p []byte, off int64) (int, error)  { return copy(p, d[off:]), nil }
func (d exampleDisk) WriteAt(p []byte, off int64) (int, error) { return copy(d[off:], p), nil }

// ExampleTracker_BeginWrite tracks the writes of a host's own write path
// (an NBD server, a hypervisor's block layer) without wrapping the volume.
func ExampleTracker_BeginWrite() {
	geom, _ := delta.NewGeometry(1<<20, delta.DefaultBlockSize)
	tracker, err := delta.NewTracker([]delta.Geometry{geom})
	if err != nil {
		panic(err)
	}
	defer tracker.Close()
	disk := make(exampleDisk, geom.Size)
	tracker.Attach(0, disk) // where copy-before-write reads old content

	write := func(p []byte, off int64) error {
		if err := tracker.BeginWrite(0, off, int64(len(p))); err != nil {
			return err // nothing written, nothing marked
		}
		defer tracker.EndWrite()
		_, err := disk.WriteAt(p, off)
		return err
	}

	write([]byte("before the freeze"), 0)
	frozen, err := tracker.Freeze(context.Background())
	if err != nil {
		panic(err)
	}
	write([]byte("after the freeze!"), 0) // the old block is saved first

	block := make([]byte, geom.BlockSize)
	frozen.ReadBlock(0, 0, block)
	fmt.Printf("frozen: %s\n", block[:17])
	fmt.Printf("live:   %s\n", disk[:17])
	frozen.Commit(context.Background())
	// Output:
	// frozen: before the freeze
	// live:   after the freeze!
}
