package delta

import (
	"sync"

	"github.com/klauspost/compress/zstd"
)

// zstd encoders and decoders are costly to build (their tables are fresh
// memory, and first touching fresh memory is slow), so finished Encoders
// and Decoders leave theirs here for the next one. The pools hold no
// goroutines: EncodeAll and DecodeAll run on the caller's.
var (
	zstdEncoderPools [zstd.SpeedBestCompression + 1]sync.Pool
	zstdDecoderPool  sync.Pool
)

// getZstdEncoder returns an encoder for EncodeAll at level, for one
// goroutine at a time.
func getZstdEncoder(level zstd.EncoderLevel) *zstd.Encoder {
	if e, ok := zstdEncoderPools[level].Get().(*zstd.Encoder); ok {
		return e
	}
	e, err := zstd.NewWriter(nil,
		zstd.WithEncoderLevel(level),
		zstd.WithEncoderConcurrency(1),
		zstd.WithEncoderCRC(false),
		// A data run is one frame of up to MaxRunBytes; every byte of it
		// may refer back to any earlier one.
		zstd.WithWindowSize(MaxRunBytes),
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

func putZstdEncoder(level zstd.EncoderLevel, e *zstd.Encoder) { zstdEncoderPools[level].Put(e) }

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
