package delta

import (
	"bytes"
	"context"
	"io"
	"math/rand/v2"
	"runtime/metrics"
	"sync"
	"testing"
	"time"

	"github.com/klauspost/compress/zstd"
	"golang.org/x/sync/errgroup"
)

// The benchmark volume: 1 GiB of 64 KiB blocks, a third each zeros,
// text-like and random, of which 1% is dirty.
const (
	benchVolume = 1 << 30
	benchBlock  = 64 << 10
	benchLevel  = zstd.SpeedDefault
	benchBare   = 2 // goroutines of the bare zstd loops
)

func benchSource(b *testing.B) (Source, Header, [][]byte) {
	b.Helper()
	g := Geometry{Size: benchVolume, BlockSize: benchBlock}
	set := NewSet(g.Blocks())
	rng := rand.New(rand.NewPCG(42, 1))
	for set.Count() < g.Blocks()/100 {
		set.Add(rng.Int64N(g.Blocks()))
	}
	vol := patternVolume{size: benchVolume}
	src, err := NewSource([]io.ReaderAt{vol}, []Geometry{g}, []*Set{set})
	if err != nil {
		b.Fatal(err)
	}
	var blocks [][]byte
	for blk := range set.All() {
		p := make([]byte, benchBlock)
		if _, err := vol.ReadAt(p, blk*benchBlock); err != nil {
			b.Fatal(err)
		}
		blocks = append(blocks, p)
	}
	h := testHeader([]Geometry{g})
	return src, h, blocks
}

// heapPeak samples the live heap until stopped and reports its maximum.
type heapPeak struct {
	stop chan struct{}
	wg   sync.WaitGroup
	max  uint64
}

func startHeapPeak() *heapPeak {
	p := &heapPeak{stop: make(chan struct{})}
	s := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		t := time.NewTicker(time.Millisecond)
		defer t.Stop()
		for {
			metrics.Read(s)
			p.max = max(p.max, s[0].Value.Uint64())
			select {
			case <-p.stop:
				return
			case <-t.C:
			}
		}
	}()
	return p
}

func (p *heapPeak) done() uint64 {
	close(p.stop)
	p.wg.Wait()
	return p.max
}

func BenchmarkEncode(b *testing.B) {
	src, h, blocks := benchSource(b)
	b.SetBytes(int64(len(blocks) * benchBlock))
	b.ReportAllocs()
	var st EncodeStats
	peak := startHeapPeak()
	for b.Loop() {
		e, err := NewEncoder(io.Discard, h, WithLevel(benchLevel))
		if err != nil {
			b.Fatal(err)
		}
		if st, err = e.Encode(context.Background(), src); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(st.BufferBytes), "buf-bytes")
	b.ReportMetric(float64(peak.done()), "peak-heap-bytes")
	b.ReportMetric(float64(st.StreamBytes)/float64(st.RawBytes), "ratio")
}

// BenchmarkEncodeFull encodes every block of a 1 GiB volume once, to show
// the encoder's memory does not grow with what it encodes.
func BenchmarkEncodeFull(b *testing.B) {
	g := Geometry{Size: benchVolume, BlockSize: benchBlock}
	src, err := NewSource([]io.ReaderAt{patternVolume{size: benchVolume}}, []Geometry{g}, nil)
	if err != nil {
		b.Fatal(err)
	}
	h := testHeader([]Geometry{g})
	b.SetBytes(benchVolume)
	var st EncodeStats
	peak := startHeapPeak()
	for b.Loop() {
		e, err := NewEncoder(io.Discard, h, WithLevel(benchLevel))
		if err != nil {
			b.Fatal(err)
		}
		if st, err = e.Encode(context.Background(), src); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(st.BufferBytes), "buf-bytes")
	b.ReportMetric(float64(peak.done()), "peak-heap-bytes")
}

func BenchmarkEncodeBareZstd(b *testing.B) {
	_, _, blocks := benchSource(b)
	enc, err := zstd.NewWriter(nil, zstd.WithEncoderLevel(benchLevel), zstd.WithEncoderConcurrency(benchBare), zstd.WithEncoderCRC(false))
	if err != nil {
		b.Fatal(err)
	}
	defer enc.Close()
	dsts := make([][]byte, benchBare)
	b.SetBytes(int64(len(blocks) * benchBlock))
	for b.Loop() {
		var g errgroup.Group
		for w := range benchBare {
			g.Go(func() error {
				for i := w; i < len(blocks); i += benchBare {
					dsts[w] = enc.EncodeAll(blocks[i], dsts[w][:0])
				}
				return nil
			})
		}
		_ = g.Wait()
	}
}

// sparseTarget is a Target that keeps only the 64 KiB chunks written,
// reusing them across runs, so a 1 GiB target costs what is written.
type sparseTarget struct {
	mu     sync.Mutex
	chunks map[int64][]byte
}

func (s *sparseTarget) chunk(i int64) []byte {
	c, ok := s.chunks[i]
	if !ok {
		c = make([]byte, benchBlock)
		s.chunks[i] = c
	}
	return c
}

func (s *sparseTarget) WriteAt(p []byte, off int64) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for n := 0; n < len(p); {
		c := s.chunk((off + int64(n)) / benchBlock)
		n += copy(c[(off+int64(n))%benchBlock:], p[n:])
	}
	return len(p), nil
}

func (s *sparseTarget) ReadAt(p []byte, off int64) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for n := 0; n < len(p); {
		c := s.chunk((off + int64(n)) / benchBlock)
		n += copy(p[n:], c[(off+int64(n))%benchBlock:])
	}
	return len(p), nil
}

func (s *sparseTarget) Size() int64 { return benchVolume }

func BenchmarkDecodeApply(b *testing.B) {
	src, h, blocks := benchSource(b)
	var buf bytes.Buffer
	e, err := NewEncoder(&buf, h, WithLevel(benchLevel))
	if err != nil {
		b.Fatal(err)
	}
	if _, err := e.Encode(context.Background(), src); err != nil {
		b.Fatal(err)
	}
	stream := buf.Bytes()
	target := &sparseTarget{chunks: map[int64][]byte{}}
	b.SetBytes(int64(len(blocks) * benchBlock))
	b.ReportAllocs()
	peak := startHeapPeak()
	for b.Loop() {
		if _, err := Apply(context.Background(), bytes.NewReader(stream), []Target{target}); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(peak.done()), "peak-heap-bytes")
}

func BenchmarkDecodeBareZstd(b *testing.B) {
	_, _, blocks := benchSource(b)
	enc, err := zstd.NewWriter(nil, zstd.WithEncoderLevel(benchLevel), zstd.WithEncoderCRC(false))
	if err != nil {
		b.Fatal(err)
	}
	frames := make([][]byte, len(blocks))
	for i, p := range blocks {
		frames[i] = enc.EncodeAll(p, nil)
	}
	enc.Close()
	dec, err := zstd.NewReader(nil, zstd.WithDecoderConcurrency(benchBare))
	if err != nil {
		b.Fatal(err)
	}
	defer dec.Close()
	dsts := make([][]byte, benchBare)
	for w := range dsts {
		dsts[w] = make([]byte, 0, benchBlock)
	}
	b.SetBytes(int64(len(blocks) * benchBlock))
	for b.Loop() {
		var g errgroup.Group
		for w := range benchBare {
			g.Go(func() error {
				for i := w; i < len(frames); i += benchBare {
					var err error
					if dsts[w], err = dec.DecodeAll(frames[i], dsts[w][:0]); err != nil {
						return err
					}
				}
				return nil
			})
		}
		if err := g.Wait(); err != nil {
			b.Fatal(err)
		}
	}
}

// pairedRun alternates ours and bare on every iteration, so that a load
// elsewhere on the machine hits both alike, and reports both throughputs
// and their ratio.
func pairedRun(b *testing.B, raw int64, ours, bare func()) {
	var tOurs, tBare time.Duration
	n := 0
	for b.Loop() {
		first, second := ours, bare
		pFirst, pSecond := &tOurs, &tBare
		if n%2 == 1 {
			first, second, pFirst, pSecond = bare, ours, &tBare, &tOurs
		}
		t0 := time.Now()
		first()
		t1 := time.Now()
		second()
		*pFirst += t1.Sub(t0)
		*pSecond += time.Since(t1)
		n++
	}
	mb := float64(raw) * float64(n) / 1e6
	b.ReportMetric(mb/tOurs.Seconds(), "delta-MB/s")
	b.ReportMetric(mb/tBare.Seconds(), "bare-MB/s")
	b.ReportMetric(tBare.Seconds()/tOurs.Seconds(), "ratio")
}

// BenchmarkEncodeVsBare measures the encoder and the bare zstd loop of
// BenchmarkEncodeBareZstd in one run; ratio is encoder/bare throughput.
func BenchmarkEncodeVsBare(b *testing.B) {
	src, h, blocks := benchSource(b)
	enc, err := zstd.NewWriter(nil, zstd.WithEncoderLevel(benchLevel), zstd.WithEncoderConcurrency(benchBare), zstd.WithEncoderCRC(false))
	if err != nil {
		b.Fatal(err)
	}
	defer enc.Close()
	dsts := make([][]byte, benchBare)
	pairedRun(b, int64(len(blocks)*benchBlock), func() {
		e, err := NewEncoder(io.Discard, h, WithLevel(benchLevel))
		if err != nil {
			b.Fatal(err)
		}
		if _, err := e.Encode(context.Background(), src); err != nil {
			b.Fatal(err)
		}
	}, func() {
		var g errgroup.Group
		for w := range benchBare {
			g.Go(func() error {
				for i := w; i < len(blocks); i += benchBare {
					dsts[w] = enc.EncodeAll(blocks[i], dsts[w][:0])
				}
				return nil
			})
		}
		_ = g.Wait()
	})
}

// BenchmarkDecodeApplyVsBare measures Apply and the bare zstd loop of
// BenchmarkDecodeBareZstd in one run; ratio is Apply/bare throughput.
func BenchmarkDecodeApplyVsBare(b *testing.B) {
	src, h, blocks := benchSource(b)
	var buf bytes.Buffer
	e, err := NewEncoder(&buf, h, WithLevel(benchLevel))
	if err != nil {
		b.Fatal(err)
	}
	if _, err := e.Encode(context.Background(), src); err != nil {
		b.Fatal(err)
	}
	stream := buf.Bytes()
	target := &sparseTarget{chunks: map[int64][]byte{}}
	zenc, err := zstd.NewWriter(nil, zstd.WithEncoderLevel(benchLevel), zstd.WithEncoderCRC(false))
	if err != nil {
		b.Fatal(err)
	}
	frames := make([][]byte, len(blocks))
	for i, p := range blocks {
		frames[i] = zenc.EncodeAll(p, nil)
	}
	zenc.Close()
	dec, err := zstd.NewReader(nil, zstd.WithDecoderConcurrency(benchBare))
	if err != nil {
		b.Fatal(err)
	}
	defer dec.Close()
	dsts := make([][]byte, benchBare)
	for w := range dsts {
		dsts[w] = make([]byte, 0, benchBlock)
	}
	pairedRun(b, int64(len(blocks)*benchBlock), func() {
		if _, err := Apply(context.Background(), bytes.NewReader(stream), []Target{target}); err != nil {
			b.Fatal(err)
		}
	}, func() {
		var g errgroup.Group
		for w := range benchBare {
			g.Go(func() error {
				for i := w; i < len(frames); i += benchBare {
					var err error
					if dsts[w], err = dec.DecodeAll(frames[i], dsts[w][:0]); err != nil {
						return err
					}
				}
				return nil
			})
		}
		if err := g.Wait(); err != nil {
			b.Fatal(err)
		}
	})
}
