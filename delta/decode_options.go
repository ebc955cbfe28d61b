package delta

import "fmt"

// DecoderOption configures a Decoder, Verify or Apply.
type DecoderOption func(*decoderConfig) error

type decoderConfig struct {
	maxVolumes     int
	maxBlockSize   int
	maxStreamBytes int64
	expect         bool
	group          string
	base           PointID
}

func defaultDecoderConfig() decoderConfig {
	return decoderConfig{maxVolumes: MaxVolumes, maxBlockSize: MaxBlockSize}
}

// WithMaxVolumes refuses, with an error wrapping ErrLimit, a stream of more
// than n volumes (default and most MaxVolumes).
func WithMaxVolumes(n int) DecoderOption {
	return func(c *decoderConfig) error {
		if n < 1 || n > MaxVolumes {
			return fmt.Errorf("delta: max volumes %d outside 1..%d", n, MaxVolumes)
		}
		c.maxVolumes = n
		return nil
	}
}

// WithMaxBlockSize refuses, with an error wrapping ErrLimit, a stream whose
// blocks are larger than n bytes (default and most MaxBlockSize). It bounds
// the Decoder's buffers for single-block records; a data run of a version
// 2 stream (FORMAT.md) may take up to MaxRunBytes of payload and as much
// decoded, whatever n is.
func WithMaxBlockSize(n int) DecoderOption {
	return func(c *decoderConfig) error {
		if n < MinBlockSize || n > MaxBlockSize {
			return fmt.Errorf("delta: max block size %d outside %d..%d", n, MinBlockSize, MaxBlockSize)
		}
		c.maxBlockSize = n
		return nil
	}
}

// WithMaxStreamBytes stops, with an error wrapping ErrLimit, at a stream
// longer than n bytes (default: no limit).
func WithMaxStreamBytes(n int64) DecoderOption {
	return func(c *decoderConfig) error {
		if n < 1 {
			return fmt.Errorf("delta: max stream bytes %d must be positive", n)
		}
		c.maxStreamBytes = n
		return nil
	}
}

// WithExpect refuses, with an error wrapping ErrMismatch, a stream of
// another group or from another base point than the ones the target holds
// (the zero PointID: a full stream).
func WithExpect(group string, base PointID) DecoderOption {
	return func(c *decoderConfig) error {
		c.expect, c.group, c.base = true, group, base
		return nil
	}
}
