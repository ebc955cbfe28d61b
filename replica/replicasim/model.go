package replicasim

import (
	"bytes"
	"fmt"
	"slices"
	"time"
)

// model is the reference: for every freeze instant of every group, the
// images the primary's volumes may have had at that instant. It is one image
// when nothing wrote during the attempt, and one per prefix of the writes
// when a writer ran alongside it.
type model struct {
	freezes map[string]map[time.Time]*freeze
}

// freeze is what the model knows of one replication attempt.
type freeze struct {
	images       [][][]byte // candidate images, each one slice per volume
	afterFailure bool       // the attempt before this one failed
	corrupt      bool       // frames were being corrupted meanwhile
}

func newModel() *model { return &model{freezes: map[string]map[time.Time]*freeze{}} }

// add records an attempt of group at instant at.
func (m *model) add(group string, at time.Time, f *freeze) {
	g := m.freezes[group]
	if g == nil {
		g = map[time.Time]*freeze{}
		m.freezes[group] = g
	}
	g[at.UTC()] = f
}

// lookup returns what the model knows of group's attempt at instant at.
func (m *model) lookup(group string, at time.Time) *freeze {
	return m.freezes[group][at.UTC()]
}

// keepRecent is how many of a group's newest freezes the model keeps
// whatever the chains hold: a forward in flight (or one whose pin a crash
// undid) may still deliver a point the replica has pruned since.
const keepRecent = 32

// forget drops what the model keeps of group's attempts before at, except
// the keepRecent newest.
func (m *model) forget(group string, before time.Time) {
	g := m.freezes[group]
	if len(g) <= keepRecent {
		return
	}
	times := make([]time.Time, 0, len(g))
	for t := range g {
		times = append(times, t)
	}
	slices.SortFunc(times, time.Time.Compare)
	for _, t := range times[:len(times)-keepRecent] {
		if t.Before(before) {
			delete(g, t)
		}
	}
}

// match reports whether img is one of f's candidates.
func (f *freeze) match(img [][]byte) bool {
	for _, c := range f.images {
		if equalImages(c, img) {
			return true
		}
	}
	return false
}

func equalImages(a, b [][]byte) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if !bytes.Equal(a[i], b[i]) {
			return false
		}
	}
	return true
}

func copyImage(img [][]byte) [][]byte {
	out := make([][]byte, len(img))
	for i, v := range img {
		out[i] = bytes.Clone(v)
	}
	return out
}

// diffBlocks names, per volume, the first few blocks where a and b differ,
// for a failure's detail.
func diffBlocks(a, b [][]byte, bs int) []string {
	var out []string
	for v := range min(len(a), len(b)) {
		if len(a[v]) != len(b[v]) {
			out = append(out, "volume sizes differ")
			continue
		}
		for off := 0; off < len(a[v]); off += bs {
			end := min(off+bs, len(a[v]))
			if !bytes.Equal(a[v][off:end], b[v][off:end]) {
				out = append(out, blockName(v, off/bs, allZero(a[v][off:end]), allZero(b[v][off:end])))
				if len(out) >= 8 {
					return out
				}
			}
		}
	}
	return out
}

func blockName(vol, block int, zeroA, zeroB bool) string {
	return fmt.Sprintf("volume %d block %d (want zero %t, got zero %t)", vol, block, zeroA, zeroB)
}

func allZero(p []byte) bool {
	for _, b := range p {
		if b != 0 {
			return false
		}
	}
	return true
}
