package media

import (
	"encoding/hex"
	"fmt"
	"unicode/utf8"
)

// Bounds of the options, and of what Open accepts from a manifest.
const (
	// DefaultPartSize is the size of every part but the last unless
	// WithPartSize says otherwise. It stays below the 4 GiB file size
	// limit of FAT32, the usual file system of removable disks.
	DefaultPartSize = 1 << 30

	// MinPartSize and MaxPartSize bound WithPartSize.
	MinPartSize = 4 << 10
	MaxPartSize = 64 << 30

	// MaxParts is the largest part count, the default of WithMaxParts.
	// Part names have six digits, so it must stay below a million.
	MaxParts = 100000

	// MaxManifestSize is the largest manifest file Open reads. A manifest
	// of MaxParts parts and the largest labels fits well within it.
	MaxManifestSize = 16 << 20

	// MaxLabels, MaxLabelKeyLen and MaxLabelValueLen bound WithLabels.
	MaxLabels        = 64
	MaxLabelKeyLen   = 128
	MaxLabelValueLen = 4096
)

// Option configures a Writer (NewWriter) or a Reader (Open, Verify). Each
// says which it applies to; the others ignore it.
type Option func(*options) error

type options struct {
	partSize int64
	labels   map[string]string
	streamID string
	maxParts int
}

func defaultOptions() options {
	return options{partSize: DefaultPartSize, maxParts: MaxParts}
}

func applyOptions(opts []Option) (options, error) {
	o := defaultOptions()
	for _, opt := range opts {
		if err := opt(&o); err != nil {
			return options{}, err
		}
	}
	return o, nil
}

// WithPartSize sets the size of every part but the last, in bytes, within
// [MinPartSize, MaxPartSize]. Writer only; default DefaultPartSize.
func WithPartSize(n int64) Option {
	return func(o *options) error {
		if n < MinPartSize || n > MaxPartSize {
			return fmt.Errorf("%w: part size %d outside [%d, %d]", ErrLimit, n, MinPartSize, MaxPartSize)
		}
		o.partSize = n
		return nil
	}
}

// WithLabels stores labels in the manifest, for the caller's own use (the
// replica layer records the group id, the recovery point and so on); the
// Reader returns them in Manifest.Labels. At most MaxLabels entries, keys
// non-empty and at most MaxLabelKeyLen bytes, values at most
// MaxLabelValueLen bytes, all valid UTF-8. Writer only; the map is copied.
func WithLabels(labels map[string]string) Option {
	return func(o *options) error {
		if err := validateLabels(labels); err != nil {
			return fmt.Errorf("%w: %s", ErrLimit, err)
		}
		o.labels = make(map[string]string, len(labels))
		for k, v := range labels {
			o.labels[k] = v
		}
		return nil
	}
}

// WithStreamID sets the stream's id instead of a random one, for a caller
// that names streams itself (a recovery point id, say). Writer only.
func WithStreamID(id [16]byte) Option {
	return func(o *options) error {
		o.streamID = hex.EncodeToString(id[:])
		return nil
	}
}

// WithMaxParts bounds the part count, within [1, MaxParts]: a Writer
// refuses to grow past it (ErrLimit), a Reader refuses a manifest listing
// more (ErrCorrupt). Default MaxParts.
func WithMaxParts(n int) Option {
	return func(o *options) error {
		if n < 1 || n > MaxParts {
			return fmt.Errorf("%w: max parts %d outside [1, %d]", ErrLimit, n, MaxParts)
		}
		o.maxParts = n
		return nil
	}
}

// validateLabels returns why labels break the bounds, or nil.
func validateLabels(labels map[string]string) error {
	if len(labels) > MaxLabels {
		return fmt.Errorf("%d labels, at most %d", len(labels), MaxLabels)
	}
	for k, v := range labels {
		switch {
		case k == "":
			return fmt.Errorf("empty label key")
		case len(k) > MaxLabelKeyLen:
			return fmt.Errorf("label key of %d bytes, at most %d", len(k), MaxLabelKeyLen)
		case len(v) > MaxLabelValueLen:
			return fmt.Errorf("label %q: value of %d bytes, at most %d", k, len(v), MaxLabelValueLen)
		case !utf8.ValidString(k) || !utf8.ValidString(v):
			return fmt.Errorf("label %q: not valid UTF-8", k)
		}
	}
	return nil
}
