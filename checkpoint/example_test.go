package checkpoint_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"time"

	"github.com/blockrep/blockrep/checkpoint"
	"github.com/blockrep/blockrep/checkpoint/vfs"
	"github.com/blockrep/blockrep/delta"
)

// A replica keeps two points of a one-volume group, reads the older one,
// clones it for a test failover and drops the clone.
func Example() {
	ctx := context.Background()
	store, err := checkpoint.Open(vfs.NewMem(), "replica")
	if err != nil {
		panic(err)
	}
	defer store.Close()
	spec := checkpoint.GroupSpec{
		Volumes:   []delta.VolumeInfo{{ID: "disk0", Size: 1 << 20}},
		Retention: checkpoint.Retention{Additional: 1},
	}
	g, err := store.CreateGroup(ctx, "vm1", spec)
	if err != nil {
		panic(err)
	}

	// The primary's volume, and two deltas of it.
	primary := make([]byte, 1<<20)
	var base delta.PointID
	for i, text := range []string{"first", "second"} {
		copy(primary, text)
		stream, id := encode(primary, base, time.Date(2026, 1, 1, 9+i, 0, 0, 0, time.UTC))
		res, err := g.Apply(ctx, bytes.NewReader(stream))
		if err != nil {
			panic(err)
		}
		fmt.Println("applied", text, "changed blocks:", res.Point.ChangedBlocks())
		base = id
	}

	points, _ := g.Points(ctx)
	view, err := g.OpenPoint(ctx, points[0].ID)
	if err != nil {
		panic(err)
	}
	buf := make([]byte, 6)
	view.Volumes()[0].ReadAt(buf, 0)
	fmt.Printf("older point reads %q\n", buf)
	view.Close()

	clone, err := g.Clone(ctx, points[0].ID, "test-failover")
	if err != nil {
		panic(err)
	}
	clone.Volumes()[0].WriteAt([]byte("TEST"), 0)
	clone.Volumes()[0].ReadAt(buf, 0)
	fmt.Printf("clone reads %q\n", buf)
	if err := clone.Discard(ctx); err != nil {
		panic(err)
	}
	fmt.Println("verify latest:", g.Verify(ctx, points[1].ID))
	// Output:
	// applied first changed blocks: 1
	// applied second changed blocks: 1
	// older point reads "first\x00"
	// clone reads "TESTt\x00"
	// verify latest: <nil>
}

// encode makes the delta of block 0 of a one-volume group.
func encode(vol []byte, base delta.PointID, at time.Time) ([]byte, delta.PointID) {
	id, _ := delta.NewPointID(nil)
	blocks := delta.NewSet(16)
	blocks.Add(0)
	geo := delta.Geometry{Size: int64(len(vol)), BlockSize: delta.DefaultBlockSize}
	src, err := delta.NewSource([]io.ReaderAt{bytes.NewReader(vol)}, []delta.Geometry{geo}, []*delta.Set{blocks})
	if err != nil {
		panic(err)
	}
	var out bytes.Buffer
	enc, err := delta.NewEncoder(&out, delta.Header{
		Group: "vm1", Base: base, New: id, Time: at, BlockSize: geo.BlockSize,
		Volumes: []delta.VolumeInfo{{ID: "disk0", Size: geo.Size}},
	})
	if err != nil {
		panic(err)
	}
	if _, err := enc.Encode(context.Background(), src); err != nil {
		panic(err)
	}
	return out.Bytes(), id
}
