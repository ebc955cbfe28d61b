package checkpointtest_test

import (
	"bytes"
	"context"
	"fmt"

	"github.com/blockrep/blockrep/checkpoint"
	"github.com/blockrep/blockrep/checkpoint/checkpointtest"
	"github.com/blockrep/blockrep/checkpoint/vfs"
)

// A test primary feeds a store two deltas; the store's older point reads
// exactly as the primary's volume did.
func ExamplePrimary() {
	ctx := context.Background()
	p := checkpointtest.NewPrimary("vm1", 1, 16<<10, 256<<10)
	store, _ := checkpoint.Open(vfs.NewMem(), "replica")
	defer store.Close()
	spec := p.Spec
	spec.Retention = checkpoint.Retention{Additional: 1}
	g, _ := store.CreateGroup(ctx, p.Group, spec)
	for range 2 {
		if _, err := g.Apply(ctx, bytes.NewReader(p.Next(checkpointtest.Change{Blocks: 4, Pages: true}))); err != nil {
			panic(err)
		}
	}
	first := p.Points()[0]
	view, _ := g.OpenPoint(ctx, first.ID)
	defer view.Close()
	got := make([]byte, view.Volumes()[0].Size())
	view.Volumes()[0].ReadAt(got, 0)
	fmt.Println("first point as the primary had it:", bytes.Equal(got, first.Images[0]))
	// Output: first point as the primary had it: true
}
