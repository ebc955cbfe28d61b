package tcp

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"testing"

	"github.com/blockrep/blockrep/transport"
)

func FuzzReadFrame(f *testing.F) {
	f.Add([]byte{0})
	f.Add(append([]byte{3}, "abc"...))
	f.Add(append([]byte{5}, "ab"...))
	f.Add(binary.AppendUvarint(nil, 1<<62))
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff})
	f.Add([]byte{0x80, 0x00, 2, 'h', 'i'}) // a non-minimal length
	f.Fuzz(func(t *testing.T, data []byte) {
		const limit = 1 << 10
		c := &conn{br: bufio.NewReader(bytes.NewReader(data)), limit: limit}
		var frames [][]byte
		var payload int
		for {
			b, err := c.readFrame(nil, limit)
			if err != nil {
				if !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, transport.ErrFrameTooLarge) {
					t.Fatalf("unexpected error class: %v", err)
				}
				break
			}
			if len(b) > limit {
				t.Fatalf("frame of %d bytes over the limit", len(b))
			}
			if cap(b) > max(limit, firstGrowth) {
				t.Fatalf("storage of %d bytes for a frame of %d", cap(b), len(b))
			}
			payload += len(b)
			frames = append(frames, b)
		}
		if payload > len(data) {
			t.Fatalf("%d payload bytes out of %d input bytes", payload, len(data))
		}
		// Round trip: the frames read, written again, read back the same.
		var wire bytes.Buffer
		w := &conn{bw: bufio.NewWriter(&wire), limit: limit}
		for _, b := range frames {
			if err := w.writeFrame(b); err != nil {
				t.Fatal(err)
			}
		}
		r := &conn{br: bufio.NewReader(&wire), limit: limit}
		for i, want := range frames {
			got, err := r.readFrame(make([]byte, 0, 16), limit)
			if err != nil || !bytes.Equal(got, want) {
				t.Fatalf("frame %d: got %q, %v; want %q", i, got, err, want)
			}
		}
		if _, err := r.readFrame(nil, limit); !errors.Is(err, io.EOF) {
			t.Fatalf("after the frames: %v, want io.EOF", err)
		}
	})
}

func FuzzHandshakeFrames(f *testing.F) {
	f.Add([]byte("BRT1primary"))
	f.Add([]byte("BRT1\x00replica"))
	f.Add([]byte("BRT1\x01"))
	f.Add([]byte("BRT"))
	f.Add([]byte("BRT1bad\x00name"))
	f.Fuzz(func(t *testing.T, data []byte) {
		if name, err := parseHello(data); err == nil {
			if len(name) > MaxNameLen {
				t.Fatalf("hello name of %d bytes accepted", len(name))
			}
			again, err := parseHello(helloFrame(name))
			if err != nil || again != name {
				t.Fatalf("hello round trip: %q, %v; want %q", again, err, name)
			}
		} else if !errors.Is(err, ErrProtocol) {
			t.Fatalf("hello error %v does not wrap ErrProtocol", err)
		}
		if status, name, err := parseReply(data); err == nil {
			s2, n2, err := parseReply(replyFrame(status, name))
			if err != nil || s2 != status || n2 != name {
				t.Fatalf("reply round trip: %d %q %v; want %d %q", s2, n2, err, status, name)
			}
		} else if !errors.Is(err, ErrProtocol) {
			t.Fatalf("reply error %v does not wrap ErrProtocol", err)
		}
	})
}

// readLength must agree with encoding/binary on every input it accepts and
// refuse exactly the inputs binary refuses for overflow.
func FuzzReadLength(f *testing.F) {
	f.Add([]byte{0})
	f.Add([]byte{0x80, 0x01})
	f.Add(binary.AppendUvarint(nil, ^uint64(0)))
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02})
	f.Add([]byte{0x80})
	f.Fuzz(func(t *testing.T, data []byte) {
		got, err := readLength(bufio.NewReader(bytes.NewReader(data)))
		want, werr := binary.ReadUvarint(bytes.NewReader(data))
		switch {
		case werr == nil:
			if err != nil || got != want {
				t.Fatalf("readLength = %d, %v; binary says %d", got, err, want)
			}
		case errors.Is(werr, io.EOF) || errors.Is(werr, io.ErrUnexpectedEOF):
			if !errors.Is(err, werr) {
				t.Fatalf("readLength error %v; binary says %v", err, werr)
			}
		default:
			if !errors.Is(err, errBadLength) {
				t.Fatalf("readLength error %v; binary says %v", err, werr)
			}
		}
	})
}
