package replica_test

import (
	"context"
	"math/rand/v2"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/blockrep/blockrep/transport"
)

// frameLog is a transport whose dialed connections record the size of
// every frame they send.
type frameLog struct {
	transport.Transport
	mu    sync.Mutex
	sizes []int
}

func (f *frameLog) Dial(ctx context.Context, addr string) (transport.Conn, error) {
	c, err := f.Transport.Dial(ctx, addr)
	if err != nil {
		return nil, err
	}
	return &loggedConn{Conn: c, log: f}, nil
}

// take returns the sizes recorded since the last take.
func (f *frameLog) take() []int {
	f.mu.Lock()
	defer f.mu.Unlock()
	s := f.sizes
	f.sizes = nil
	return s
}

type loggedConn struct {
	transport.Conn
	log *frameLog
}

func (c *loggedConn) Send(ctx context.Context, msg []byte) error {
	c.log.mu.Lock()
	c.log.sizes = append(c.log.sizes, len(msg))
	c.log.mu.Unlock()
	return c.Conn.Send(ctx, msg)
}

// deltaFrames checks that sizes are one delta's sends on a connection
// already greeted — the DeltaStart message, the stream's data frames, the
// end-of-stream marker — and returns the data frames.
func deltaFrames(t *testing.T, sizes []int) []int {
	t.Helper()
	require.GreaterOrEqual(t, len(sizes), 3, "DeltaStart, data, end marker: %v", sizes)
	require.Equal(t, 0, sizes[len(sizes)-1], "the end-of-stream marker comes last")
	return sizes[1 : len(sizes)-1]
}

// assertCut checks that data is a stream of total bytes cut into frames of
// exactly chunk bytes, the last one shorter or equal.
func assertCut(t *testing.T, data []int, total int64, chunk int) {
	t.Helper()
	var sum int64
	for i, n := range data {
		sum += int64(n)
		if i < len(data)-1 {
			assert.Equal(t, chunk, n, "frame %d of %d", i, len(data))
		} else {
			assert.LessOrEqual(t, n, chunk, "last frame")
			assert.Positive(t, n, "last frame")
		}
	}
	assert.Equal(t, total, sum, "the frames carry the whole stream")
	assert.Equal(t, int((total+int64(chunk)-1)/int64(chunk)), len(data))
}

// A cycle of a few written pages travels in 64 KiB frames, not in one
// frame of the host's 1 MiB ChunkSize: the replica receives the first
// part of the stream, and starts verifying and staging it, while the
// primary still encodes the rest.
func TestSmallDeltaTravelsInSeveralFrames(t *testing.T) {
	fl := &frameLog{}
	e := newEnv(t, withPrimaryTransport(func(tr transport.Transport) transport.Transport {
		fl.Transport = tr
		return fl
	}))
	cfg, _ := groupConfig("vm1", 4<<20, 1)
	cfg.BlockSize = 64 << 10
	rel, err := e.primary.Enable(e.ctx, cfg)
	require.NoError(t, err)
	_, err = rel.InitialReplication(e.ctx)
	require.NoError(t, err)
	require.NoError(t, e.event().Err)
	fl.take()

	seed := uint64(8)
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, seed))
	const pages = 40 // 160 KiB of incompressible pages: three frames
	page := make([]byte, 4096)
	for _, p := range rng.Perm(int(cfg.Volumes[0].Size / 4096))[:pages] {
		for i := range page {
			page[i] = byte(rng.Uint32())
		}
		_, err := rel.Volume(0).WriteAt(page, int64(p)*4096)
		require.NoError(t, err)
	}
	res, err := rel.Cycle(e.ctx)
	require.NoError(t, err)
	require.NoError(t, e.event().Err)
	require.Greater(t, res.StreamBytes, int64(2*64<<10))

	data := deltaFrames(t, fl.take())
	assertCut(t, data, res.StreamBytes, 64<<10)
	assert.Equal(t, [][]byte{cfg.Volumes[0].Volume.(*memVolume).snapshot()}, e.pointImages("vm1", res.Point))
}

// A delta of at least 16 frames of ChunkSize keeps ChunkSize; a smaller
// one travels in frames of a sixteenth of its raw size.
func TestDeltaFrameSizeFollowsItsSize(t *testing.T) {
	for _, tc := range []struct {
		name  string
		size  int64 // of the volume, all of it incompressible
		limit int   // the host's ChunkSize (0: transport.DefaultChunkSize)
		want  int
	}{
		{"sixteenth of 4 MiB under the default", 4 << 20, 0, 256 << 10},
		{"ChunkSize caps 8 MiB", 8 << 20, 256 << 10, 256 << 10},
		{"ChunkSize under the 64 KiB floor is kept", 1 << 20, 16 << 10, 16 << 10},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fl := &frameLog{}
			e := newEnv(t, withChunk(tc.limit), withPrimaryTransport(func(tr transport.Transport) transport.Transport {
				fl.Transport = tr
				return fl
			}))
			cfg, vols := groupConfig("vm1", tc.size, 1)
			cfg.BlockSize = 64 << 10
			rng := rand.New(rand.NewPCG(3, uint64(tc.size)))
			for i := range vols[0].data {
				vols[0].data[i] = byte(rng.Uint32())
			}
			rel, err := e.primary.Enable(e.ctx, cfg)
			require.NoError(t, err)
			fl.take()
			res, err := rel.InitialReplication(e.ctx)
			require.NoError(t, err)
			require.NoError(t, e.event().Err)

			data := deltaFrames(t, fl.take())
			assertCut(t, data, res.StreamBytes, tc.want)
			assert.Equal(t, [][]byte{vols[0].snapshot()}, e.pointImages("vm1", res.Point))
		})
	}
}
