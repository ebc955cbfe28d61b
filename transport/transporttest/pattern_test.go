package transporttest_test

import (
	"bytes"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/blockrep/blockrep/transport/transporttest"
)

func TestFill(t *testing.T) {
	a := make([]byte, 4096)
	transporttest.Fill(a, 0)
	b := make([]byte, 4096)
	transporttest.Fill(b, 4096)
	assert.False(t, bytes.Equal(a, b), "different offsets give different bytes")
	whole := make([]byte, 8192)
	transporttest.Fill(whole, 0)
	assert.Equal(t, a, whole[:4096])
	assert.Equal(t, b, whole[4096:])
	// No 8-byte word repeats within a chunk: a shifted or repeated chunk is
	// detected.
	seen := map[string]bool{}
	for i := 0; i < len(whole); i += 8 {
		w := string(whole[i : i+8])
		assert.False(t, seen[w], "word at %d repeats", i)
		seen[w] = true
	}
}
