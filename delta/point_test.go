package delta

import (
	"encoding/json"
	"errors"
	"math/rand/v2"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// seededReader reads bytes from a seeded generator.
type seededReader struct{ r *rand.Rand }

func (s seededReader) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = byte(s.r.Uint32())
	}
	return len(p), nil
}

func TestPointID(t *testing.T) {
	a, err := NewPointID(seededReader{rand.New(rand.NewPCG(1, 2))})
	require.NoError(t, err)
	b, err := NewPointID(seededReader{rand.New(rand.NewPCG(1, 2))})
	require.NoError(t, err)
	assert.Equal(t, a, b, "a seeded reader gives reproducible ids")
	assert.False(t, a.IsZero())
	assert.True(t, PointID{}.IsZero())

	c, err := NewPointID(nil)
	require.NoError(t, err)
	assert.False(t, c.IsZero())
	assert.NotEqual(t, a, c)

	_, err = NewPointID(iotest.ErrReader(errors.New("no entropy")))
	assert.ErrorContains(t, err, "no entropy")

	s := a.String()
	assert.Len(t, s, 32)
	back, err := ParsePointID(strings.ToUpper(s))
	require.NoError(t, err)
	assert.Equal(t, a, back, "upper-case hex parses too")

	j, err := json.Marshal(map[string]PointID{"p": a})
	require.NoError(t, err)
	assert.Equal(t, `{"p":"`+s+`"}`, string(j))
	var m map[string]PointID
	require.NoError(t, json.Unmarshal(j, &m))
	assert.Equal(t, a, m["p"])

	for _, bad := range []string{"", s[:31], s + "0", strings.Repeat("g", 32), strings.Repeat("x", 1<<20)} {
		_, err := ParsePointID(bad)
		require.Error(t, err)
		assert.Less(t, len(err.Error()), 200, "the error does not echo hostile input")
		var id PointID
		assert.Error(t, id.UnmarshalText([]byte(bad)))
		assert.True(t, id.IsZero(), "a refused id leaves the target unchanged")
	}
}

// FuzzParsePointID: no panic; an accepted id prints back as the input in
// lower case; a refusal leaves nothing behind.
func FuzzParsePointID(f *testing.F) {
	f.Add("00112233445566778899aabbccddeeff")
	f.Add("00112233445566778899AABBCCDDEEFF")
	f.Add("0011223344556677889")
	f.Fuzz(func(t *testing.T, s string) {
		id, err := ParsePointID(s)
		if err != nil {
			if !id.IsZero() {
				t.Fatal("a refusal returned an id")
			}
			return
		}
		if id.String() != strings.ToLower(s) {
			t.Fatalf("%q parsed to %s", s, id)
		}
	})
}

// FuzzParseHash: as FuzzParsePointID, for block hashes.
func FuzzParseHash(f *testing.F) {
	f.Add(HashBlock([]byte("x")).String())
	f.Add(strings.Repeat("F", 64))
	f.Add("zz")
	f.Fuzz(func(t *testing.T, s string) {
		h, err := ParseHash(s)
		if err != nil {
			if !h.IsZero() {
				t.Fatal("a refusal returned a hash")
			}
			return
		}
		if h.String() != strings.ToLower(s) {
			t.Fatalf("%q parsed to %s", s, h)
		}
	})
}
