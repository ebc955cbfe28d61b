package delta

import (
	"errors"
	"testing"
)

// hashFuzzMax bounds what a fuzzed decoder may allocate: 4096 blocks or
// pages, so no input can make it take more than a few hundred KiB.
const hashFuzzMax = 4096

func FuzzUnmarshalHashList(f *testing.F) {
	for _, g := range []Geometry{{0, PageSize}, {1, PageSize}, {5*65536 + 3, 65536}} {
		l, err := NewHashList(g)
		if err != nil {
			f.Fatal(err)
		}
		for i := range l.Len() {
			l.Set(i, HashBlock([]byte{byte(i)}))
		}
		b, _ := l.MarshalBinary()
		f.Add(b)
	}
	f.Add([]byte("BRHL\x01"))
	f.Fuzz(func(t *testing.T, b []byte) {
		l, n, err := UnmarshalHashList(b, hashFuzzMax)
		if err != nil {
			var ce *CorruptError
			if !errors.As(err, &ce) && !errors.Is(err, ErrLimit) {
				t.Fatalf("error %v is neither corrupt nor limit", err)
			}
			return
		}
		if l.Len() > hashFuzzMax || n > len(b) {
			t.Fatalf("accepted %d blocks from %d of %d bytes", l.Len(), n, len(b))
		}
		again, err := l.MarshalBinary()
		if err != nil || string(again) != string(b[:n]) {
			t.Fatalf("round trip differs: %v", err)
		}
		_ = l.Root()
	})
}

func FuzzUnmarshalPageHashes(f *testing.F) {
	for _, size := range []int64{0, 100, 3*PageSize + 1} {
		h := &PageHashes{g: Geometry{Size: size, BlockSize: 65536}, hashes: make([]PageHash, hashPageCount(Geometry{Size: size}))}
		for i := range h.hashes {
			h.hashes[i] = HashPage([]byte{byte(i)})
		}
		b, _ := h.MarshalBinary()
		f.Add(b)
	}
	f.Add([]byte("BRPH\x01"))
	f.Fuzz(func(t *testing.T, b []byte) {
		h, n, err := UnmarshalPageHashes(b, hashFuzzMax)
		if err != nil {
			var ce *CorruptError
			if !errors.As(err, &ce) && !errors.Is(err, ErrLimit) {
				t.Fatalf("error %v is neither corrupt nor limit", err)
			}
			return
		}
		if h.Len() > hashFuzzMax || n > len(b) {
			t.Fatalf("accepted %d pages from %d of %d bytes", h.Len(), n, len(b))
		}
		again, err := h.MarshalBinary()
		if err != nil || string(again) != string(b[:n]) {
			t.Fatalf("round trip differs: %v", err)
		}
	})
}

// FuzzDiffer drives a Differ with hashes a hostile peer chose: it must
// never panic, and whatever it concludes must be a set of blocks of the
// local volume.
func FuzzDiffer(f *testing.F) {
	f.Add(uint16(100), uint8(16), []byte{1, 2, 3})
	f.Add(uint16(1), uint8(2), []byte{})
	f.Add(uint16(4000), uint8(3), []byte{0xff, 0, 0xff, 7, 9})
	f.Fuzz(func(t *testing.T, blocks uint16, fanout uint8, answers []byte) {
		l := &HashList{g: Geometry{Size: int64(blocks) * PageSize, BlockSize: PageSize}, hashes: make([]Hash, blocks)}
		for i := range l.hashes {
			l.hashes[i] = HashBlock([]byte{byte(i)})
		}
		tr, err := NewHashTree(l, int(fanout))
		if err != nil {
			return
		}
		d := NewDiffer(tr)
		for i := 0; !d.Done() && i < 64; i++ {
			// The peer answers with as many hashes as the answer byte says,
			// each either the local node (equal) or another one.
			var a byte
			if len(answers) > 0 {
				a, answers = answers[0], answers[1:]
			}
			want := d.Want()
			remote, _ := tr.AppendNodes(nil, d.Level(), want)
			if a&0x80 != 0 && len(remote) > 0 {
				remote = remote[:len(remote)-1]
			}
			for j := range remote {
				if (int(a)+j)%3 == 0 {
					remote[j][0] ^= 1
				}
			}
			before := d.Level()
			if err := d.Compare(remote); err != nil {
				if !errors.Is(err, ErrMismatch) || d.Level() != before {
					t.Fatalf("bad refusal: %v", err)
				}
				return
			}
		}
		if d.Done() && d.Differing().Len() != int64(blocks) {
			t.Fatalf("result over %d blocks, want %d", d.Differing().Len(), blocks)
		}
	})
}

func FuzzParseHashes(f *testing.F) {
	f.Add([]byte{}, uint8(0))
	f.Add(make([]byte, 64), uint8(2))
	f.Add(make([]byte, 65), uint8(9))
	f.Fuzz(func(t *testing.T, b []byte, limit uint8) {
		hs, err := ParseHashes(b, int(limit))
		if err != nil {
			var ce *CorruptError
			if !errors.As(err, &ce) && !errors.Is(err, ErrLimit) {
				t.Fatalf("error %v is neither corrupt nor limit", err)
			}
			return
		}
		if len(hs) > int(limit) || string(AppendHashes(nil, hs)) != string(b) {
			t.Fatalf("%d hashes from %d bytes do not round trip", len(hs), len(b))
		}
	})
}
