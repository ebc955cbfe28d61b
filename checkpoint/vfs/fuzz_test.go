package vfs

import (
	"encoding/binary"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// byteSource is a rand.Source that replays fuzz input, then continues
// with a PCG (an all-zero source would stall rand's rejection sampling).
type byteSource struct {
	b    []byte
	rest rand.PCG
}

func (s *byteSource) Uint64() uint64 {
	if len(s.b) < 8 {
		return s.rest.Uint64()
	}
	v := binary.LittleEndian.Uint64(s.b)
	s.b = s.b[8:]
	return v
}

// FuzzMemCrashModel runs the operations the input encodes and checks the
// crash model's two promises: a crash keeps only contents that were
// synced, and after syncing every file and directory a crash (plain or
// torn) keeps the whole tree.
func FuzzMemCrashModel(f *testing.F) {
	f.Add([]byte{})
	f.Add([]byte(strings.Repeat("\x0a\x00\x00\x03\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00", 8)))
	seed := make([]byte, 2048)
	for i := range seed {
		seed[i] = byte(i * 131)
	}
	f.Add(seed)
	f.Fuzz(func(t *testing.T, input []byte) {
		if len(input) > 1<<14 {
			return // bound the work per input
		}
		rng := rand.New(&byteSource{b: input, rest: *rand.NewPCG(uint64(len(input)), 7)})
		m := NewMem()
		e := &confEnv{fs: m, root: "", files: map[string]File{}}
		syncedContents := map[string]bool{"": true}
		for range 1 + len(input)/16 {
			desc, _, err := randomStep(rng, e)
			if label, ok := strings.CutSuffix(desc, " sync"); ok && err == nil {
				if f := e.files[label].(*memFile); !f.n.dir {
					syncedContents[string(f.n.data)] = true
				}
			}
		}
		for name, content := range strs(m.Clone().Crash().Snapshot()) {
			require.True(t, syncedContents[content], "%s holds content never synced", name)
		}
		syncEverything(t, m)
		want := tree(t, m, ".")
		require.Equal(t, want, tree(t, m.Clone().Crash(), "."))
		require.Equal(t, want, tree(t, m.Clone().CrashRandom(uint64(len(input))), "."))
		for _, f := range e.files {
			f.Close()
		}
	})
}
