package delta

import (
	"bytes"
	"context"
	"flag"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The golden stream lives in the module's top-level testdata/, with the
// project's other fixtures.
const goldenPath = "../testdata/golden-v1.delta"

func init() {
	// Other test files of the package may define -update too.
	if flag.Lookup("update") == nil {
		flag.Bool("update", false, "rewrite golden files under testdata/")
	}
}

func updateGolden() bool {
	f := flag.Lookup("update")
	return f != nil && f.Value.String() == "true"
}

// goldenSource is the fixed input of the golden stream: two volumes of
// 16 KiB blocks whose blocks are chosen to give every kind of record.
func goldenSource() *memSource {
	const bs = 16 << 10
	rng := rand.New(rand.NewPCG(2026, 11))
	g0 := Geometry{Size: 12*bs + 5000, BlockSize: bs}
	g1 := Geometry{Size: 6 * bs, BlockSize: bs}
	v0, v1 := make([]byte, g0.Size), make([]byte, g1.Size)
	blk := func(v []byte, b int) []byte { return v[b*bs : min((b+1)*bs, len(v))] }
	text := func(p []byte, seed string) {
		for i := range p {
			p[i] = seed[i%len(seed)]
		}
	}
	text(blk(v0, 0), "golden text A, compressible. ")
	fillRandom(rng, blk(v0, 4))
	copy(blk(v0, 5), blk(v0, 0))
	fillRandom(rng, blk(v0, 6)) // not dirty
	text(blk(v0, 7), "golden text B, sent as two pages. ")
	fillRandom(rng, blk(v0, 8)[PageSize:3*PageSize]) // pages 0 and 3 stay zero
	fillRandom(rng, blk(v0, 9))
	fillRandom(rng, blk(v0, 12))
	copy(blk(v1, 0), blk(v0, 4))
	fillRandom(rng, blk(v1, 3)) // not dirty
	text(blk(v1, 4), "golden text C, first page only. ")
	copy(blk(v1, 5), blk(v0, 0))
	s0, s1 := NewSet(g0.Blocks()), NewSet(g1.Blocks())
	s0.AddRange(0, 6)
	s0.AddRange(7, 6)
	s1.AddRange(0, 3)
	s1.AddRange(4, 2)
	return &memSource{
		geoms:  []Geometry{g0, g1},
		vols:   [][]byte{v0, v1},
		blocks: []*Set{s0, s1},
		masks:  map[blockAddr]PageMask{{0, 7}: {0b0110}, {0, 8}: {0b1001}, {1, 4}: {0b0001}},
	}
}

func goldenHeader() Header {
	src := goldenSource()
	return Header{
		Group:       "golden-vm",
		Base:        PointID{0xba, 0x5e},
		New:         PointID{0x0e, 0x77},
		Time:        time.Date(2026, 11, 25, 15, 0, 0, 1, time.UTC),
		Consistency: ConsistencyApp,
		BlockSize:   src.geoms[0].BlockSize,
		Volumes:     []VolumeInfo{{ID: "system.vhdx", Size: src.geoms[0].Size}, {ID: "data disk 1", Size: src.geoms[1].Size}},
		Meta:        []byte(`<vm name="golden"/>`),
	}
}

func encodeGolden(t testing.TB) []byte {
	stream, _ := encodeSource(t, goldenHeader(), goldenSource(), WithConcurrency(2), WithLevel(2))
	return stream
}

func TestGoldenStream(t *testing.T) {
	fresh := encodeGolden(t)
	if updateGolden() {
		require.NoError(t, os.MkdirAll(filepath.Dir(goldenPath), 0o755))
		require.NoError(t, os.WriteFile(goldenPath, fresh, 0o644))
	}
	golden, err := os.ReadFile(goldenPath)
	require.NoError(t, err)
	require.True(t, bytes.Equal(golden, fresh), "the encoder no longer writes %s byte for byte; if the format changed on purpose, bump the version, else run go test -run TestGoldenStream -update", goldenPath)

	src := goldenSource()
	h, recs := readRecords(t, golden, WithExpect("golden-vm", PointID{0xba, 0x5e}))
	want := goldenHeader()
	assert.Equal(t, &want, h)
	blk := func(v, b int) []byte {
		off, n := src.geoms[v].BlockBounds(int64(b))
		return src.vols[v][off : off+int64(n)]
	}
	assert.Equal(t, []Record{
		{Volume: 0, Kind: RecordData, Block: 0, Count: 1, Data: blk(0, 0)},
		{Volume: 0, Kind: RecordZero, Block: 1, Count: 3},
		{Volume: 0, Kind: RecordData, Block: 4, Count: 1, Data: blk(0, 4)},
		{Volume: 0, Kind: RecordCopy, Block: 5, Count: 1, FromVolume: 0, FromBlock: 0},
		{Volume: 0, Kind: RecordData, Block: 7, Count: 1, Pages: PageMask{0b0110}, Data: blk(0, 7)[PageSize : 3*PageSize]},
		{Volume: 0, Kind: RecordZero, Block: 8, Count: 1, Pages: PageMask{0b1001}},
		{Volume: 0, Kind: RecordData, Block: 9, Count: 1, Data: blk(0, 9)},
		{Volume: 0, Kind: RecordZero, Block: 10, Count: 2},
		{Volume: 0, Kind: RecordData, Block: 12, Count: 1, Data: blk(0, 12)},
		{Volume: 1, Kind: RecordCopy, Block: 0, Count: 1, FromVolume: 0, FromBlock: 4},
		{Volume: 1, Kind: RecordZero, Block: 1, Count: 2},
		{Volume: 1, Kind: RecordData, Block: 4, Count: 1, Pages: PageMask{0b0001}, Data: blk(1, 4)[:PageSize]},
		{Volume: 1, Kind: RecordCopy, Block: 5, Count: 1, FromVolume: 0, FromBlock: 0},
	}, recs)

	// Wire details a reader in another language relies on.
	assert.Equal(t, streamMagic[:], golden[:8])
	assert.Equal(t, []byte{0, 1}, golden[8:10])
	assert.Equal(t, byte(kindTrailer), golden[len(golden)-trailerLen])
	assert.Equal(t, []byte{0, 0, 0, 0, 0, 0, 0, 13}, golden[len(golden)-trailerLen+1:len(golden)-32])

	// Applied over a volume of 0xEE bytes, the result is exact.
	olds := [][]byte{bytes.Repeat([]byte{0xee}, len(src.vols[0])), bytes.Repeat([]byte{0xee}, len(src.vols[1]))}
	mv, targets := newTargets(olds)
	_, err = Apply(context.Background(), bytes.NewReader(golden), targets)
	require.NoError(t, err)
	for v := range mv {
		assert.True(t, bytes.Equal(expectedImage(src, v, olds[v]), mv[v].snapshot()), "volume %d", v)
	}
}

// TestGoldenFraming walks the golden stream with the independent framing
// walker of the fuzz tests, which recomputes every checksum, the count and
// the stream hash as FORMAT.md defines them: nothing may change.
func TestGoldenFraming(t *testing.T) {
	golden, err := os.ReadFile(goldenPath)
	require.NoError(t, err)
	assert.True(t, bytes.Equal(golden, resign(golden)))
}
