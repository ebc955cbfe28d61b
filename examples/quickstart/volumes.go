package main

import (
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
)

// regionSize is the unit of the volumes' made-up content: each region is
// all zeros, text-like or random.
const regionSize = 256 << 10

// volumeFile is one of the primary's volumes: a file in the run's directory.
type volumeFile struct {
	Name string
	Path string
	Size int64
	File *os.File

	Zero, Text, Random int64 // bytes of each kind of content
}

// makeVolumes creates the group's two volume files in dir — size bytes and a
// quarter of that — filled, region by region, with zeros (left as holes),
// text-like lines or random bytes, drawn from seed. The files stay open for
// the caller to close.
func makeVolumes(dir string, size int64, seed uint64) (vols []*volumeFile, err error) {
	defer func() {
		if err != nil {
			for _, v := range vols {
				v.File.Close()
			}
		}
	}()
	specs := []struct {
		name string
		size int64
	}{{"system.img", size}, {"data.img", size / 4}}
	for i, s := range specs {
		v := &volumeFile{Name: s.name, Path: filepath.Join(dir, s.name), Size: s.size}
		if v.File, err = os.OpenFile(v.Path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600); err != nil {
			return vols, err
		}
		vols = append(vols, v)
		src := rand.NewChaCha8(seedBytes(seed, uint64(i)))
		if err := fillVolume(v, src); err != nil {
			return vols, fmt.Errorf("fill %s: %w", v.Name, err)
		}
	}
	return vols, nil
}

// fillVolume writes v's content: the kind of each region is drawn from src,
// four in ten zero, a third text-like, the rest random bytes from src.
func fillVolume(v *volumeFile, src *rand.ChaCha8) error {
	if err := v.File.Truncate(v.Size); err != nil {
		return err
	}
	rng := rand.New(src)
	buf := make([]byte, regionSize)
	text := newTextSource(rng)
	for off := int64(0); off < v.Size; off += regionSize {
		n := min(int64(regionSize), v.Size-off)
		p := buf[:n]
		switch k := rng.IntN(100); {
		case k < 40:
			v.Zero += n
			continue
		case k < 75:
			text.fill(p)
			v.Text += n
		default:
			_, _ = src.Read(p) // never fails
			v.Random += n
		}
		if _, err := v.File.WriteAt(p, off); err != nil {
			return err
		}
	}
	return v.File.Sync()
}

// seedBytes derives a ChaCha8 seed from the run's seed and a stream number,
// so each volume and the writer draw from streams of their own.
func seedBytes(seed, stream uint64) [32]byte {
	var s [32]byte
	for i := range 8 {
		s[i] = byte(seed >> (8 * i))
		s[8+i] = byte(stream >> (8 * i))
	}
	copy(s[16:], "blockrep-qstart!")
	return s
}

// textSource makes log-like lines: compressible, but not all alike.
type textSource struct {
	rng  *rand.Rand
	line int
}

func newTextSource(rng *rand.Rand) *textSource { return &textSource{rng: rng} }

var words = []string{
	"replica", "primary", "cycle", "block", "volume", "freeze", "delta", "point",
	"applied", "committed", "tracking", "dirty", "sent", "verified", "host", "group",
	"checkpoint", "undo", "log", "latency", "bytes", "ok", "warning", "retry",
}

// fill writes lines into p up to its end.
func (t *textSource) fill(p []byte) {
	b := p[:0]
	for len(b) < len(p) {
		t.line++
		b = strconv.AppendInt(b, int64(t.line), 10)
		b = append(b, " hv1 blockrep["...)
		b = strconv.AppendInt(b, int64(1000+t.rng.IntN(9000)), 10)
		b = append(b, "]:"...)
		for n := 4 + t.rng.IntN(8); n > 0; n-- {
			b = append(b, ' ')
			b = append(b, words[t.rng.IntN(len(words))]...)
		}
		b = append(b, '\n')
		if len(b) > len(p) {
			b = b[:len(p)]
		}
	}
	// b starts on p's storage; the append of the last line may move it,
	// and the copy puts the bytes back. The last line is cut at the end.
	copy(p, b)
}
