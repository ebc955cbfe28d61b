package vfs

import (
	"math/rand/v2"
	"strings"
	"testing"
	"time"
)

func TestHangHunt(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for i := range 3000 {
		input := make([]byte, r.IntN(1<<12))
		mode := i % 3
		for j := range input {
			switch mode {
			case 0:
				input[j] = byte(r.Uint32())
			case 1:
				input[j] = byte(r.IntN(4))
			}
		}
		start := time.Now()
		rng := rand.New(&byteSource{b: input, rest: *rand.NewPCG(uint64(len(input)), 7)})
		m := NewMem()
		e := &confEnv{fs: m, root: "", files: map[string]File{}}
		var hist []string
		for range 1 + len(input)/16 {
			desc, _, _ := randomStep(rng, e)
			hist = append(hist, desc)
		}
		_ = m.Clone().Crash().Snapshot()
		syncEverything(t, m)
		_ = tree(t, m.Clone().Crash(), ".")
		_ = tree(t, m.Clone().CrashRandom(uint64(len(input))), ".")
		if d := time.Since(start); d > time.Second {
			t.Fatalf("slow %v: %s", d, strings.Join(hist, "\n"))
		}
	}
}
