package delta

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/zeebo/blake3"
)

func TestHashTextRoundTrip(t *testing.T) {
	h := HashBlock([]byte("abc"))
	// The BLAKE3 test vector for "abc".
	require.Equal(t, "6437b3ac38465133ffb63b75273a8db548c558465d79db03fd359c6cd5bd9d85", h.String())
	p, err := ParseHash(h.String())
	require.NoError(t, err)
	assert.Equal(t, h, p)

	j, err := json.Marshal(map[string]Hash{"root": h})
	require.NoError(t, err)
	assert.Equal(t, `{"root":"`+h.String()+`"}`, string(j))
	var back map[string]Hash
	require.NoError(t, json.Unmarshal(j, &back))
	assert.Equal(t, h, back["root"])

	assert.False(t, h.IsZero())
	assert.True(t, Hash{}.IsZero())
}

func TestParseHashRejects(t *testing.T) {
	for _, s := range []string{"", "00", string(make([]byte, 64)), "zz37b3ac38465133ffb63b75273a8db548c558465d79db03fd359c6cd5bd9d85",
		"6437b3ac38465133ffb63b75273a8db548c558465d79db03fd359c6cd5bd9d8500"} {
		_, err := ParseHash(s)
		assert.Error(t, err, "%q", s)
		var h Hash
		assert.Error(t, h.UnmarshalText([]byte(s)))
		assert.True(t, h.IsZero(), "a failed UnmarshalText changes nothing")
	}
}

func TestHashBlockEqualsBLAKE3(t *testing.T) {
	rng := hashTestRand(t)
	require.Equal(t, MaxBlockSize, PageSize<<(hashZeroSizes-1), "zero digest cache covers every block size")
	sizes := []int{0, 1, 63, 64, 65, 1023, 1024, 1025, PageSize - 1, PageSize + 1, 3 * PageSize, 100_000}
	for k := range hashZeroSizes {
		sizes = append(sizes, PageSize<<k)
	}
	for _, n := range sizes {
		zero := make([]byte, n)
		assert.Equal(t, Hash(blake3.Sum256(zero)), HashBlock(zero), "zeros of %d bytes", n)
		assert.Equal(t, Hash(blake3.Sum256(zero)), HashBlock(zero), "zeros of %d bytes, cached", n)
		if n == 0 {
			continue
		}
		data := make([]byte, n)
		data[rng.IntN(n)] = 1 // one non-zero byte anywhere defeats the zero shortcut
		assert.Equal(t, Hash(blake3.Sum256(data)), HashBlock(data), "one byte set in %d bytes", n)
		hashFillRandom(rng, data)
		assert.Equal(t, Hash(blake3.Sum256(data)), HashBlock(data), "random %d bytes", n)
	}
}

func TestHashPageEqualsTruncatedBLAKE3(t *testing.T) {
	rng := hashTestRand(t)
	ph := newPageHasher()
	for _, n := range []int{1, 100, PageSize - 1, PageSize} {
		for _, fill := range []string{"zero", "one", "random"} {
			p := make([]byte, n)
			switch fill {
			case "one":
				p[n-1] = 0x80
			case "random":
				for i := range p {
					p[i] = byte(rng.Uint32())
				}
			}
			full := blake3.Sum256(p)
			assert.Equal(t, PageHash(full[:16]), HashPage(p), "%s page of %d bytes", fill, n)
			assert.Equal(t, PageHash(full[:16]), ph.sum(p), "%s page of %d bytes, reused hasher", fill, n)
		}
	}
	assert.Len(t, HashPage(nil).String(), 32)
}
