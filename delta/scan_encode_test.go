package delta

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// scanMemTarget is a replica volume in memory for Apply.
type scanMemTarget struct{ b []byte }

func (m *scanMemTarget) ReadAt(p []byte, off int64) (int, error) {
	if off >= int64(len(m.b)) {
		return 0, io.EOF
	}
	n := copy(p, m.b[off:])
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

func (m *scanMemTarget) WriteAt(p []byte, off int64) (int, error) {
	if off+int64(len(p)) > int64(len(m.b)) {
		return 0, fmt.Errorf("write past the end at %d", off)
	}
	return copy(m.b[off:], p), nil
}

// TestScanSourceEncodeApply is the CLI's sync cycle without a tracker:
// scan the volumes another program changed, encode what the scans found,
// apply the stream to a replica that holds the previous content, and
// check that the replica now equals the volumes byte for byte.
func TestScanSourceEncodeApply(t *testing.T) {
	rng := hashTestRand(t)
	ctx := context.Background()
	sizes := []int64{3<<20 + 5000, 1 << 20}
	var (
		geoms    []Geometry
		primary  [][]byte
		replicas []*scanMemTarget
		prev     []*PageHashes
	)
	for _, size := range sizes {
		g, err := NewGeometry(size, 65536)
		require.NoError(t, err)
		data := hashTestVolume(rng, size)
		geoms = append(geoms, g)
		primary = append(primary, data)
		replicas = append(replicas, &scanMemTarget{b: append([]byte(nil), data...)})
		prev = append(prev, scanOrFail(t, data, g, nil).Hashes)
	}
	base := PointID{1}
	for cycle := range 3 {
		// Another program writes here and there.
		for _, data := range primary {
			for range 1 + rng.IntN(20) {
				off := rng.Int64N(int64(len(data)))
				n := min(1+rng.Int64N(20000), int64(len(data))-off)
				hashFillRandom(rng, data[off:off+n])
			}
			if cycle == 1 {
				clear(data[65536 : 3*65536]) // a trim
			}
		}
		var results []*ScanResult
		var readers []io.ReaderAt
		var changedPages int64
		for v, data := range primary {
			res := scanOrFail(t, data, geoms[v], prev[v])
			results = append(results, res)
			readers = append(readers, newHashMemVolume(data))
			changedPages += res.ChangedPages.Count()
		}
		src, err := NewScanSource(readers, results)
		require.NoError(t, err)

		h := Header{
			Group: "scan-test", Base: base, New: PointID{byte(cycle + 2)},
			Time:      time.Date(2026, 11, 25, 16, 0, cycle, 0, time.UTC),
			BlockSize: 65536,
		}
		for v, g := range geoms {
			h.Volumes = append(h.Volumes, VolumeInfo{ID: fmt.Sprintf("disk%d", v), Size: g.Size})
		}
		var stream bytes.Buffer
		enc, err := NewEncoder(&stream, h)
		require.NoError(t, err)
		_, err = enc.Encode(ctx, src)
		require.NoError(t, err)

		targets := make([]Target, len(replicas))
		for v, r := range replicas {
			targets[v] = r
		}
		_, err = Apply(ctx, bytes.NewReader(stream.Bytes()), targets)
		require.NoError(t, err)
		for v := range primary {
			require.True(t, bytes.Equal(primary[v], replicas[v].b), "cycle %d: replica volume %d equals the primary", cycle, v)
		}
		t.Logf("cycle %d: %d changed pages, stream %d bytes", cycle, changedPages, stream.Len())

		// The cycle committed: keep the new hashes.
		for v, res := range results {
			prev[v] = res.Hashes
		}
		base = h.New
	}
}
