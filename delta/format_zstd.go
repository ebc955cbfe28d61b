package delta

import (
	"sync"

	"github.com/klauspost/compress/zstd"
)

// zstd encoders and decoders are costly to build (their tables are fresh
// memory, and first touching fresh memory is slow), so finished Encoders
// and Decoders leave theirs here for the next one. The pools hold no
// goroutines: EncodeAll and DecodeAll run on the caller's.
//
// An encoder's memory grows with its window, so encoders for data runs
// (an 8 MiB window) and for single blocks (4 MiB, MaxBlockSize) have pools
// of their own: a version 1 stream does not pay for the runs' window.
var (
	zstdEncoderPools [2][zstd.SpeedBestCompression + 1]sync.Pool
	zstdDecoderPool  sync.Pool
)

// getZstdEncoder returns an encoder for EncodeAll at level, for one
// goroutine at a time; runs asks for the window of a data run.
func getZstdEncoder(level zstd.EncoderLevel, runs bool) *zstd.Encoder {
	if e, ok := zstdEncoderPools[b2i(runs)][level].Get().(*zstd.Encoder); ok {
		return e
	}
	// A frame's every byte may refer back to any earlier one: the window
	// covers the largest frame, a data run's or a block's.
	window := MaxBlockSize
	if runs {
		window = MaxRunBytes
	}
	e, err := zstd.NewWriter(nil,
		zstd.WithEncoderLevel(level),
		zstd.WithEncoderConcurrency(1),
		zstd.WithEncoderCRC(false),
		zstd.WithWindowSize(window),
		// Single-segment frames always declare their content size, even
		// below 1 KiB, which readers require (FORMAT.md, Data).
		zstd.WithSingleSegment(true),
	)
	if err != nil {
		// The options are constants that the library accepts.
		panic("delta: zstd encoder: " + err.Error())
	}
	return e
}

func putZstdEncoder(level zstd.EncoderLevel, runs bool, e *zstd.Encoder) {
	zstdEncoderPools[b2i(runs)][level].Put(e)
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

// getZstdDecoder returns a decoder whose DecodeAll never produces more
// than the capacity left in its dst, nor more than MaxRunBytes (the
// largest record, a data run): the bound a zstd bomb runs into.
func getZstdDecoder() *zstd.Decoder {
	if d, ok := zstdDecoderPool.Get().(*zstd.Decoder); ok {
		return d
	}
	d, err := zstd.NewReader(nil,
		zstd.WithDecoderConcurrency(1),
		zstd.WithDecoderMaxMemory(MaxRunBytes),
		zstd.WithDecoderMaxWindow(MaxRunBytes),
		zstd.WithDecodeAllCapLimit(true),
	)
	if err != nil {
		panic("delta: zstd decoder: " + err.Error())
	}
	return d
}

func putZstdDecoder(d *zstd.Decoder) { zstdDecoderPool.Put(d) }
