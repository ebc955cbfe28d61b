package delta_test

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/blockrep/blockrep/delta"
)

// buffer is a volume in memory: an io.ReaderAt and io.WriterAt over a slice.
type buffer []byte

func (b buffer) ReadAt(p []byte, off int64) (int, error)  { return copy(p, b[off:]), nil }
func (b buffer) WriteAt(p []byte, off int64) (int, error) { return copy(b[off:], p), nil }

// Example shows one replication cycle between two in-memory volumes: the
// host writes through a tracked volume, the tracker freezes the dirty set,
// the encoder turns it into a delta stream, and Apply brings the replica to
// the primary's image as of the freeze — while the host keeps writing.
func Example() {
	ctx := context.Background()
	const size = 1 << 20 // 1 MiB, 16 blocks of 64 KiB
	geom, _ := delta.NewGeometry(size, delta.DefaultBlockSize)

	primary, replica := make(buffer, size), make(buffer, size)
	tracker, err := delta.NewTracker([]delta.Geometry{geom})
	if err != nil {
		panic(err)
	}
	defer tracker.Close()
	vol, err := tracker.Volume(0, primary)
	if err != nil {
		panic(err)
	}

	// The host writes three 4 KiB pages of random data and one of text.
	rng := rand.New(rand.NewPCG(1, 2))
	page := make([]byte, delta.PageSize)
	for _, off := range []int64{0, 5 * delta.PageSize, 100 * delta.PageSize} {
		for i := range page {
			page[i] = byte(rng.Uint32())
		}
		vol.WriteAt(page, off)
	}
	vol.WriteAt(bytes.Repeat([]byte("blockrep "), 455), 200*delta.PageSize)

	// Freeze: from here the Frozen reads the image as of this instant.
	frozen, err := tracker.Freeze(ctx)
	if err != nil {
		panic(err)
	}
	image := append(buffer(nil), primary...)                   // what the replica must become
	vol.WriteAt(bytes.Repeat([]byte{0xff}, delta.PageSize), 0) // a write after the freeze

	var stream bytes.Buffer
	enc, err := delta.NewEncoder(&stream, delta.Header{
		Group:     "vm-1",
		New:       delta.PointID{1},
		Time:      time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC),
		BlockSize: geom.BlockSize,
		Volumes:   []delta.VolumeInfo{{ID: "disk0", Size: size}},
	})
	if err != nil {
		panic(err)
	}
	stats, err := enc.Encode(ctx, frozen)
	if err != nil {
		panic(err)
	}
	if _, err := delta.Apply(ctx, &stream, []delta.Target{replica}); err != nil {
		frozen.Restore() // the cycle failed: the next one sends these blocks again
		panic(err)
	}
	frozen.Commit(ctx) // acknowledged: these blocks are clean now

	fmt.Println("dirty blocks sent:", frozen.Blocks(0).Count())
	fmt.Println("pages sent:", stats.RawBytes/delta.PageSize)
	fmt.Println("replica equals the image at the freeze:", bytes.Equal(replica, image))
	dirty, _ := tracker.Dirty(0)
	fmt.Println("dirty after the cycle:", dirty.Count())
	// Output:
	// dirty blocks sent: 3
	// pages sent: 4
	// replica equals the image at the freeze: true
	// dirty after the cycle: 1
}
