package delta

import (
	"encoding/binary"
	"errors"
	"maps"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestSetOperations(t *testing.T) {
	s := NewSet(200)
	assert.True(t, s.Empty())
	s.Add(0)
	s.Add(63)
	s.Add(64)
	s.AddRange(100, 30) // 100..129
	s.AddRange(199, 1)
	s.AddRange(5, 0) // nothing
	assert.Equal(t, int64(34), s.Count())
	assert.True(t, s.Contains(129))
	assert.False(t, s.Contains(130))
	assert.False(t, s.Contains(-1))
	assert.False(t, s.Contains(200))
	s.Remove(63)
	assert.False(t, s.Contains(63))

	var runs [][2]int64
	for start, count := range s.Runs() {
		runs = append(runs, [2]int64{start, count})
	}
	assert.Equal(t, [][2]int64{{0, 1}, {64, 1}, {100, 30}, {199, 1}}, runs)
	first := slices.Collect(s.All())
	assert.Equal(t, int64(33), int64(len(first)))
	assert.True(t, slices.IsSorted(first))

	// Stopping an iteration early stops it.
	var got []int64
	for b := range s.All() {
		got = append(got, b)
		if len(got) == 2 {
			break
		}
	}
	assert.Equal(t, []int64{0, 64}, got)

	o := setOf(200, 1, 100, 150)
	c := s.Clone()
	require.NoError(t, c.Union(o))
	assert.Equal(t, int64(35), c.Count())
	assert.Equal(t, int64(33), s.Count(), "Clone is independent")
	require.NoError(t, c.Subtract(s))
	assert.Equal(t, []int64{1, 150}, members(c))
	assert.False(t, c.Equal(s))
	assert.True(t, s.Equal(s.Clone()))

	// Sets over different universes do not combine.
	other := NewSet(201)
	assert.ErrorIs(t, s.Union(other), ErrMismatch)
	assert.ErrorIs(t, s.Subtract(other), ErrMismatch)
	assert.False(t, s.Equal(other))
	assert.Equal(t, int64(33), s.Count(), "a refused union changes nothing")

	s.Clear()
	assert.True(t, s.Empty())
	assert.Equal(t, int64(200), s.Len())
}

func TestSetPanicsOutsideUniverse(t *testing.T) {
	s := NewSet(10)
	assert.Panics(t, func() { s.Add(10) })
	assert.Panics(t, func() { s.Add(-1) })
	assert.Panics(t, func() { s.Remove(10) })
	assert.Panics(t, func() { s.AddRange(8, 3) })
	assert.Panics(t, func() { NewSet(-1) })
	assert.Panics(t, func() { NewSet(MaxVolumeSize/MinBlockSize + 1) })
}

// TestSetTerabyteCost checks the bound: a 1 TiB volume at 64 KiB
// blocks costs 2 MiB of bitmap, and its encoding of one run is a few bytes.
func TestSetTerabyteCost(t *testing.T) {
	g := mustGeometry(t, 1<<40, DefaultBlockSize)
	s := NewSet(g.Blocks())
	assert.Equal(t, 2<<20, 8*cap(s.words))
	s.AddRange(0, g.Blocks())
	b, err := s.MarshalBinary()
	require.NoError(t, err)
	assert.Less(t, len(b), 16)
	back, n, err := UnmarshalSet(b, g.Blocks())
	require.NoError(t, err)
	assert.Equal(t, len(b), n)
	assert.True(t, back.Equal(s))
}

// TestSetRoundTrip encodes random sets (runs, singles, empty, full) and
// decodes them back, with trailing bytes that must not be consumed.
func TestSetRoundTrip(t *testing.T) {
	rng := trackerTestRand(t)
	for i := range 300 {
		n := rng.Int64N(5000)
		if i < 3 {
			n = int64(i)
		}
		s := NewSet(n)
		ref := map[int64]bool{}
		for range rng.IntN(40) {
			if n == 0 {
				break
			}
			start := rng.Int64N(n)
			count := min(1+rng.Int64N(70), n-start)
			if rng.IntN(3) == 0 {
				count = 1
			}
			s.AddRange(start, count)
			for b := start; b < start+count; b++ {
				ref[b] = true
			}
		}
		if i == 3 && n > 0 {
			s.AddRange(0, n)
			for b := range n {
				ref[b] = true
			}
		}
		want := slices.Sorted(maps.Keys(ref))
		require.Equal(t, int64(len(want)), s.Count())
		if len(want) > 0 {
			require.Equal(t, want, members(s))
		}
		b, err := s.AppendBinary([]byte{0xaa})
		require.NoError(t, err)
		require.Equal(t, byte(0xaa), b[0], "AppendBinary appends")
		enc := b[1:]
		back, used, err := UnmarshalSet(append(enc, 0xff, 0xfe), n)
		require.NoError(t, err, "set %d over %d blocks", i, n)
		require.Equal(t, len(enc), used)
		require.True(t, back.Equal(s), "set %d over %d blocks", i, n)
	}
}

func TestUnmarshalSetRefusals(t *testing.T) {
	good := setOf(100, 3, 4, 5, 50, 99)
	enc, err := good.MarshalBinary()
	require.NoError(t, err)

	// Every truncation is corrupt, never a panic or a partial set.
	for n := range len(enc) {
		_, _, err := UnmarshalSet(enc[:n], 100)
		var ce *CorruptError
		require.ErrorAs(t, err, &ce, "truncated to %d bytes", n)
	}

	uv := func(b []byte, vs ...uint64) []byte {
		for _, v := range vs {
			b = binary.AppendUvarint(b, v)
		}
		return b
	}
	for name, tc := range map[string]struct {
		b      []byte
		maxLen int64
		want   error
	}{
		"bad magic":           {append([]byte{'X'}, enc[1:]...), 100, ErrCorrupt},
		"over caller's limit": {enc, 99, ErrLimit},
		"negative limit":      {enc, -1, ErrLimit},
		"past any volume":     {uv([]byte{setMagic}, MaxVolumeSize/MinBlockSize+1, 0), 1 << 62, ErrCorrupt},
		"run count lies":      {uv([]byte{setMagic}, 100, 40, 0, 1), 100, ErrCorrupt},
		"more runs than bits": {uv([]byte{setMagic}, 1, 2, 0, 1, 0, 1), 1, ErrCorrupt},
		"empty run":           {uv([]byte{setMagic}, 100, 1, 0, 0), 100, ErrCorrupt},
		"run past the end":    {uv([]byte{setMagic}, 100, 1, 90, 11), 100, ErrCorrupt},
		"gap past the end":    {uv([]byte{setMagic}, 100, 1, 101, 1), 100, ErrCorrupt},
		"huge run":            {uv([]byte{setMagic}, 100, 1, 0, 1<<63), 100, ErrCorrupt},
		"runs not maximal":    {uv([]byte{setMagic}, 100, 2, 0, 3, 0, 2), 100, ErrCorrupt},
		"varint overflow":     {append([]byte{setMagic}, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01), 100, ErrCorrupt},
	} {
		t.Run(name, func(t *testing.T) {
			s, n, err := UnmarshalSet(tc.b, tc.maxLen)
			assert.ErrorIs(t, err, tc.want)
			if errors.Is(tc.want, ErrCorrupt) {
				var ce *CorruptError
				assert.ErrorAs(t, err, &ce)
			} else {
				assert.NotErrorIs(t, err, ErrCorrupt)
			}
			assert.Nil(t, s)
			assert.Zero(t, n)
		})
	}
}

// FuzzUnmarshalSet decodes arbitrary bytes as a Set. Properties: no panic;
// a refusal is a *CorruptError or ErrLimit; nothing larger than the limit is
// allocated; an accepted set re-encodes to a form that decodes to the same
// set and is no longer than the bytes consumed.
func FuzzUnmarshalSet(f *testing.F) {
	const limit = 1 << 16
	rng := rand.New(rand.NewPCG(1, 2))
	for _, n := range []int64{0, 1, 64, 1000, limit} {
		s := NewSet(n)
		for range 10 {
			if n > 0 {
				s.Add(rng.Int64N(n))
			}
		}
		b, _ := s.MarshalBinary()
		f.Add(b)
	}
	f.Add([]byte{setMagic})
	f.Add([]byte{setMagic, 0x80, 0x80, 0x04, 0x01, 0x00, 0x01})
	f.Fuzz(func(t *testing.T, b []byte) {
		s, n, err := UnmarshalSet(b, limit)
		if err != nil {
			var ce *CorruptError
			if !errors.As(err, &ce) && !errors.Is(err, ErrLimit) {
				t.Fatalf("error %v is neither corrupt nor limit", err)
			}
			if s != nil || n != 0 {
				t.Fatalf("refusal returned a set or a length")
			}
			return
		}
		if s.Len() > limit || n < 1 || n > len(b) {
			t.Fatalf("accepted a set over %d blocks from %d of %d bytes", s.Len(), n, len(b))
		}
		again, err := s.MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		if len(again) > n {
			t.Fatalf("re-encoding is %d bytes, input used %d", len(again), n)
		}
		back, m, err := UnmarshalSet(again, limit)
		if err != nil || m != len(again) || !back.Equal(s) {
			t.Fatalf("round trip differs: %v", err)
		}
	})
}

func TestGeometry(t *testing.T) {
	g, err := NewGeometry(10*65536+100, 0)
	require.NoError(t, err)
	assert.Equal(t, DefaultBlockSize, g.BlockSize)
	assert.Equal(t, int64(11), g.Blocks())
	assert.Equal(t, 16, g.PagesPerBlock())
	off, n := g.BlockBounds(10)
	assert.Equal(t, int64(10*65536), off)
	assert.Equal(t, 100, n)
	assert.Equal(t, 1, g.BlockPages(10))
	assert.Equal(t, 16, g.BlockPages(9))
	assert.Equal(t, int64(10), g.BlockOf(10*65536+99))

	for name, tc := range map[string]struct {
		off, n      int64
		first, last int64
		ok          bool
	}{
		"one byte":        {0, 1, 0, 0, true},
		"across a border": {65535, 2, 0, 1, true},
		"to the end":      {65536, g.Size - 65536, 1, 10, true},
		"empty":           {5, 0, 0, 0, false},
		"negative":        {-1, 2, 0, 0, false},
		"past the end":    {g.Size - 1, 2, 0, 0, false},
		"overflowing":     {1, 1<<63 - 1, 0, 0, false},
	} {
		first, last, ok := g.Span(tc.off, tc.n)
		assert.Equal(t, [3]any{tc.first, tc.last, tc.ok}, [3]any{first, last, ok}, name)
	}

	for _, bad := range []Geometry{
		{Size: 1, BlockSize: 2048},
		{Size: 1, BlockSize: 8 << 20},
		{Size: 1, BlockSize: 3 * 4096},
		{Size: -1, BlockSize: 4096},
		{Size: MaxVolumeSize + 1, BlockSize: 4096},
	} {
		assert.ErrorIs(t, bad.Validate(), ErrGeometry, "%+v", bad)
	}
	_, err = NewGeometry(0, MaxBlockSize)
	assert.NoError(t, err, "an empty volume is valid")
}

func TestPageMask(t *testing.T) {
	var whole PageMask
	assert.True(t, whole.Has(5))
	assert.Equal(t, 16, whole.Count(16))
	assert.True(t, whole.Full(16))

	m := FullPageMask(70)
	assert.Len(t, m, 2)
	assert.Equal(t, 70, m.Count(70))
	assert.True(t, m.Full(70))
	m[0] &^= 1 << 3
	assert.False(t, m.Has(3))
	assert.False(t, m.Has(-1))
	assert.False(t, m.Has(128))
	assert.Equal(t, 69, m.Count(70))
	assert.False(t, m.Full(70))
	assert.Equal(t, []int{0, 1, 2, 4}, slices.Collect(m.All(5)), "pages past the block are not yielded")
}
