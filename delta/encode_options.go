package delta

import (
	"fmt"
	"runtime"

	"github.com/klauspost/compress/zstd"
)

// EncoderOption configures an Encoder.
type EncoderOption func(*encoderConfig) error

type encoderConfig struct {
	compress    bool
	level       zstd.EncoderLevel
	concurrency int
	memory      int64
	progress    func(done, total int64)
	dedup       bool
	dedupTable  int
	runBytes    int
}

// DefaultEncoderMemory is the default bound on an Encoder's block buffers.
const DefaultEncoderMemory = 64 << 20

// DefaultDedupTable is the default number of blocks an Encoder remembers
// to find repeated blocks.
const DefaultDedupTable = 16 << 10

func defaultEncoderConfig() encoderConfig {
	return encoderConfig{
		compress:    true,
		level:       zstd.SpeedDefault,
		concurrency: runtime.GOMAXPROCS(0),
		memory:      DefaultEncoderMemory,
		dedup:       true,
		dedupTable:  DefaultDedupTable,
	}
}

// WithCompression turns zstd compression of data records on (the default)
// or off. Data that zstd does not shrink travels raw either way.
func WithCompression(on bool) EncoderOption {
	return func(c *encoderConfig) error { c.compress = on; return nil }
}

// WithLevel sets the zstd level (default zstd.SpeedDefault).
func WithLevel(l zstd.EncoderLevel) EncoderOption {
	return func(c *encoderConfig) error {
		if l < zstd.SpeedFastest || l > zstd.SpeedBestCompression {
			return fmt.Errorf("delta: zstd level %d outside %d..%d", l, zstd.SpeedFastest, zstd.SpeedBestCompression)
		}
		c.level = l
		return nil
	}
}

// WithZstdLevel sets the zstd level by its number in the zstd command line
// tool (1..22), mapped to the nearest level WithLevel knows.
func WithZstdLevel(level int) EncoderOption {
	return func(c *encoderConfig) error {
		if level < 1 || level > 22 {
			return fmt.Errorf("delta: zstd level %d outside 1..22", level)
		}
		c.level = zstd.EncoderLevelFromZstd(level)
		return nil
	}
}

// WithConcurrency sets how many blocks are read and compressed at once
// (default GOMAXPROCS).
func WithConcurrency(n int) EncoderOption {
	return func(c *encoderConfig) error {
		if n < 1 || n > 1024 {
			return fmt.Errorf("delta: concurrency %d outside 1..1024", n)
		}
		c.concurrency = n
		return nil
	}
}

// WithEncoderMemory bounds the bytes of block buffers in flight (default
// DefaultEncoderMemory), whatever the volume size. It must hold at least
// one block and its compressed form; fewer than two per worker limits the
// parallelism.
func WithEncoderMemory(bytes int64) EncoderOption {
	return func(c *encoderConfig) error {
		if bytes < 1 {
			return fmt.Errorf("delta: encoder memory %d must be positive", bytes)
		}
		c.memory = bytes
		return nil
	}
}

// WithProgress has the Encoder call f after each block it wrote, with the
// bytes of dirty blocks done so far and in all. f runs on the Encoder's
// writing goroutine and should return quickly.
func WithProgress(f func(done, total int64)) EncoderOption {
	return func(c *encoderConfig) error { c.progress = f; return nil }
}

// WithDedup turns on (the default) or off sending a whole block equal to
// one sent earlier in the stream as a copy record.
func WithDedup(on bool) EncoderOption {
	return func(c *encoderConfig) error { c.dedup = on; return nil }
}

// WithDedupTable sets how many blocks the Encoder remembers for dedup
// (default DefaultDedupTable, at most MaxCopySources); each costs about
// 80 bytes. Blocks past the table's size are still sent, only not matched.
func WithDedupTable(entries int) EncoderOption {
	return func(c *encoderConfig) error {
		if entries < 1 || entries > MaxCopySources {
			return fmt.Errorf("delta: dedup table of %d entries outside 1..%d", entries, MaxCopySources)
		}
		c.dedupTable = entries
		return nil
	}
}

// WithRunBytes has the Encoder compress consecutive dirty whole blocks
// together, up to bytes of them (at most MaxRunBytes) as one zstd frame,
// a data run: zstd then finds the repeats between neighbouring blocks,
// which a frame per block cannot (a full copy of mixed content is about
// 20% smaller with MaxRunBytes). The stream is then written in format
// version 2. The default, 0, is no runs: every data record covers one
// block and the stream is version 1, which readers that predate runs
// accept. A bound below two blocks, compression off, or encoder memory
// (WithEncoderMemory) that holds fewer than two run slots also leave runs
// out. Blocks sent inside a run are not matched by dedup (WithDedup).
func WithRunBytes(bytes int) EncoderOption {
	return func(c *encoderConfig) error {
		if bytes < 0 || bytes > MaxRunBytes {
			return fmt.Errorf("delta: run of %d bytes outside 0..%d", bytes, MaxRunBytes)
		}
		c.runBytes = bytes
		return nil
	}
}
