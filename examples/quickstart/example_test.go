package main

import (
	"bytes"
	"context"
	"fmt"
	"io"

	"github.com/blockrep/blockrep/delta"
)

// The -size flag takes a number and a binary unit; the second volume is a
// quarter of the first.
func Example_size() {
	for _, v := range []string{"8MiB", "256 MiB", "1.5GiB", "4m"} {
		n, err := parseSize(v)
		if err != nil {
			fmt.Println(err)
			continue
		}
		fmt.Printf("-size %-8s → volumes of %s and %s\n", v, formatBytes(n), formatBytes(n/4))
	}
	// Output:
	// -size 8MiB     → volumes of 8 MiB and 2 MiB
	// -size 256 MiB  → volumes of 256 MiB and 64 MiB
	// -size 1.5GiB   → volumes of 1.5 GiB and 384 MiB
	// -size 4m       → volumes of 4 MiB and 1 MiB
}

// A point's content hash is the root of its block hashes. The model finds
// the prefix of the writer's writes after which the primary's image has that
// root: here a point frozen between the writer's two writes.
func Example_model() {
	const bs = 4096
	vol := make([]byte, 4*bs)
	start, _ := hashImage(context.Background(), []io.ReaderAt{bytes.NewReader(vol)}, []int64{int64(len(vol))}, bs)
	m := newModel(start)

	frozen := start.clone() // what a cycle froze: after the first write only
	for _, b := range []int64{1, 2} {
		p := bytes.Repeat([]byte{byte(b)}, bs)
		m.lock()
		copy(vol[b*bs:], p) // the write, under the model's lock
		m.record(write{vol: 0, block: b, hash: delta.HashBlock(p)})
		m.unlock()
		if b == 1 {
			frozen[0].Set(b, delta.HashBlock(p))
		}
	}
	mr, err := m.match(delta.PointID{1}, frozen.root())
	fmt.Printf("point 1: after %d write(s), %d left for the next point, err %v\n", mr.Writes, mr.Left, err)
	_, err = m.match(delta.PointID{2}, delta.Hash{})
	fmt.Println("a point that is no image of the primary:", err != nil)
	// Output:
	// point 1: after 1 write(s), 1 left for the next point, err <nil>
	// a point that is no image of the primary: true
}
