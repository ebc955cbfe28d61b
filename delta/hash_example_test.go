package delta_test

import (
	"bytes"
	"context"
	"fmt"
	"slices"

	"github.com/blockrep/blockrep/delta"
)

// Scan finds what another program changed in a volume since the last
// cycle, from the page hashes kept then.
func ExampleScan() {
	ctx := context.Background()
	g, _ := delta.NewGeometry(1<<20, 64<<10) // 1 MiB volume, 16 blocks
	vol := make([]byte, g.Size)

	first, _ := delta.Scan(ctx, bytes.NewReader(vol), g, nil)
	fmt.Println("first scan, changed blocks:", first.Blocks.Count())

	// Keep the hashes (PageHashes.AppendBinary) once the cycle committed;
	// meanwhile some program writes two pages of block 3.
	copy(vol[3<<16+4096:], "hello")
	copy(vol[3<<16+5*4096:], "world")

	next, _ := delta.Scan(ctx, bytes.NewReader(vol), g, first.Hashes)
	for b := range next.Blocks.All() {
		pages := next.Pages(b, nil) // nil would mean the whole block
		fmt.Println("block", b, "pages", slices.Collect(pages.All(g.BlockPages(b))))
	}
	// Output:
	// first scan, changed blocks: 16
	// block 3 pages [1 5]
}

// Two sides compare hash trees top down; only the hashes on the paths to
// differing blocks cross the wire.
func ExampleNewDiffer() {
	g, _ := delta.NewGeometry(4096<<16, 64<<10) // 4096 blocks
	local, _ := delta.NewHashList(g)
	for i := range local.Len() {
		local.Set(i, delta.HashBlock([]byte{byte(i), byte(i >> 8)}))
	}
	remote := local.Clone()
	remote.Set(1000, delta.HashBlock([]byte("changed")))

	lt, _ := delta.NewHashTree(local, 0)
	rt, _ := delta.NewHashTree(remote, 0)
	d := delta.NewDiffer(lt)
	sent := 0
	for !d.Done() {
		answer, _ := rt.AppendNodes(nil, d.Level(), d.Want()) // on the peer
		sent += len(answer)
		_ = d.Compare(answer)
	}
	for b := range d.Differing().All() {
		fmt.Println("differing block", b)
	}
	fmt.Println("hashes sent:", sent, "of", local.Len())
	// Output:
	// differing block 1000
	// hashes sent: 49 of 4096
}
