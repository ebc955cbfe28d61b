package delta

import (
	"fmt"
	"runtime"
)

// ApplyOption configures Apply. Every DecoderOption is an ApplyOption too.
type ApplyOption interface {
	applyTo(*applyConfig) error
}

type applyFunc func(*applyConfig) error

func (f applyFunc) applyTo(c *applyConfig) error { return f(c) }

func (o DecoderOption) applyTo(c *applyConfig) error { return o(&c.dec) }

type applyConfig struct {
	dec         decoderConfig
	tempDir     string // "" means os.TempDir()
	stageMemory int64
	concurrency int
	geoms       []Geometry
}

// DefaultStageMemory is how many bytes of verified records Apply keeps in
// memory before it stages the rest in a temporary file.
const DefaultStageMemory = 64 << 20

func defaultApplyConfig() applyConfig {
	return applyConfig{
		dec:         defaultDecoderConfig(),
		stageMemory: DefaultStageMemory,
		concurrency: runtime.GOMAXPROCS(0),
	}
}

// WithTempDir sets the directory of Apply's staging file (default
// os.TempDir()). The file is removed before Apply returns.
func WithTempDir(dir string) ApplyOption {
	return applyFunc(func(c *applyConfig) error { c.tempDir = dir; return nil })
}

// WithStageMemory sets how many bytes of verified, decompressed records
// Apply holds in memory before it spills to its staging file (default
// DefaultStageMemory; 0 stages everything in the file).
func WithStageMemory(bytes int64) ApplyOption {
	return applyFunc(func(c *applyConfig) error {
		if bytes < 0 {
			return fmt.Errorf("delta: stage memory %d is negative", bytes)
		}
		c.stageMemory = bytes
		return nil
	})
}

// WithApplyConcurrency sets how many records Apply checks and decompresses
// at once (default GOMAXPROCS).
func WithApplyConcurrency(n int) ApplyOption {
	return applyFunc(func(c *applyConfig) error {
		if n < 1 || n > 1024 {
			return fmt.Errorf("delta: concurrency %d outside 1..1024", n)
		}
		c.concurrency = n
		return nil
	})
}

// WithTargetGeometries has Apply refuse, with an error wrapping
// ErrMismatch, a stream whose volumes' sizes or block size differ from
// geoms. Without it Apply compares sizes only with targets that report one
// (a Size() int64 method, or Stat as *os.File has).
func WithTargetGeometries(geoms []Geometry) ApplyOption {
	return applyFunc(func(c *applyConfig) error {
		c.geoms = append([]Geometry(nil), geoms...)
		return nil
	})
}
