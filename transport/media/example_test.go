package media_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/blockrep/blockrep/transport/media"
)

// Example writes a stream to a directory in parts, as an initial
// replication export to a removable disk would, then reads it back.
func Example() {
	dir, err := os.MkdirTemp("", "media-example")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer os.RemoveAll(dir)
	disk := filepath.Join(dir, "blockrep", "vm-web")

	stream := strings.Repeat("0123456789abcdef", 1000) // 16000 bytes
	w, err := media.NewWriter(disk,
		media.WithPartSize(media.MinPartSize), // 4 KiB parts, to show several
		media.WithLabels(map[string]string{"group": "vm-web"}),
	)
	if err != nil {
		fmt.Println(err)
		return
	}
	if _, err := io.Copy(w, strings.NewReader(stream)); err != nil {
		_ = w.Abort() // never Close a stream whose source failed
		fmt.Println(err)
		return
	}
	if err := w.Close(); err != nil {
		fmt.Println(err)
		return
	}

	r, err := media.Open(disk)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer r.Close()
	var got bytes.Buffer
	if _, err := io.Copy(&got, r); err != nil { // verified once io.Copy returns nil
		fmt.Println(err)
		return
	}
	m := r.Manifest()
	fmt.Println("parts:", m.PartCount, "size:", m.Size, "group:", m.Labels["group"])
	for _, p := range m.Parts {
		fmt.Println(p.Name, p.Size)
	}
	fmt.Println("same bytes:", got.String() == stream)
	// Output:
	// parts: 4 size: 16000 group: vm-web
	// part-000001.bin 4096
	// part-000002.bin 4096
	// part-000003.bin 4096
	// part-000004.bin 3712
	// same bytes: true
}

// ExampleVerify checks a stream without consuming it, and shows the typed
// error for a damaged part.
func ExampleVerify() {
	dir, err := os.MkdirTemp("", "media-verify")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer os.RemoveAll(dir)

	w, err := media.NewWriter(dir, media.WithPartSize(media.MinPartSize))
	if err != nil {
		fmt.Println(err)
		return
	}
	if _, err := w.Write(bytes.Repeat([]byte{7}, 10000)); err != nil {
		_ = w.Abort()
		fmt.Println(err)
		return
	}
	if err := w.Close(); err != nil {
		fmt.Println(err)
		return
	}

	m, err := media.Verify(context.Background(), dir)
	fmt.Println("intact:", err == nil, m.PartCount, "parts")

	// Damage one byte of the second part.
	part := filepath.Join(dir, media.PartName(2))
	data, _ := os.ReadFile(part)
	data[100] ^= 1
	_ = os.WriteFile(part, data, 0o644)

	_, err = media.Verify(context.Background(), dir)
	var pe *media.PartError
	if errors.As(err, &pe) {
		fmt.Println("corrupt:", errors.Is(err, media.ErrCorrupt), "part", pe.Part, pe.Name)
	}
	// Output:
	// intact: true 3 parts
	// corrupt: true part 2 part-000002.bin
}
