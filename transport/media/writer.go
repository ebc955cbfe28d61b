package media

import (
	"bufio"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"

	"github.com/zeebo/blake3"
)

// writeBufferSize is the buffer in front of each part file, so that small
// writes do not each become a system call.
const writeBufferSize = 1 << 20

// Writer writes a stream into a directory as numbered part files and, on
// Close, a manifest. Write splits the stream into parts of the configured
// size; each part is flushed and fsynced before the next one starts. Close
// commits the stream; Abort abandons it. A Writer is not safe for
// concurrent use.
type Writer struct {
	root *os.Root
	opts options
	id   string

	parts []Part
	size  int64

	cur    *os.File // part being written, nil between parts
	buf    *bufio.Writer
	hash   *blake3.Hasher
	curLen int64

	err      error // first failure; every later call returns it
	done     bool  // Close or Abort was called
	closeErr error
	manifest Manifest
}

// NewWriter prepares to write a stream into dir, creating dir when it does
// not exist. It refuses (ErrExists) a directory that already holds a
// manifest, a temporary manifest or a part file: a new stream goes into a
// fresh directory. Other files are left alone. Options: WithPartSize,
// WithLabels, WithStreamID, WithMaxParts.
func NewWriter(dir string, opts ...Option) (*Writer, error) {
	o, err := applyOptions(opts)
	if err != nil {
		return nil, err
	}
	id := o.streamID
	if id == "" {
		var b [16]byte
		if _, err := rand.Read(b[:]); err != nil {
			return nil, fmt.Errorf("media: stream id: %w", err)
		}
		id = hex.EncodeToString(b[:])
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("media: %w", err)
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		return nil, fmt.Errorf("media: %w", err)
	}
	if err := checkEmpty(root); err != nil {
		_ = root.Close()
		return nil, err
	}
	return &Writer{root: root, opts: o, id: id, hash: blake3.New()}, nil
}

// checkEmpty returns ErrExists when root holds a stream's files.
func checkEmpty(root *os.Root) error {
	found := ""
	err := scanDir(root, func(name string) error {
		_, isPart := parsePartName(name)
		if isPart || name == ManifestName || name == manifestTemp {
			found = name
			return errStopScan
		}
		return nil
	})
	if err != nil && !errors.Is(err, errStopScan) {
		return err
	}
	if found != "" {
		return fmt.Errorf("%w: found %q in %s", ErrExists, found, root.Name())
	}
	return nil
}

var errStopScan = errors.New("stop scan")

// scanDir calls fn for every name in root's top directory, reading the
// listing in batches so that a huge directory costs bounded memory.
func scanDir(root *os.Root, fn func(name string) error) error {
	d, err := root.Open(".")
	if err != nil {
		return fmt.Errorf("media: %w", err)
	}
	defer d.Close()
	for {
		names, err := d.Readdirnames(256)
		for _, name := range names {
			if err := fn(name); err != nil {
				return err
			}
		}
		if err != nil {
			if errors.Is(err, io.EOF) {
				return nil
			}
			return fmt.Errorf("media: list %s: %w", root.Name(), err)
		}
	}
}

// Write appends p to the stream. An error is final: later calls return
// it, Close then fails without committing, and Abort cleans up.
func (w *Writer) Write(p []byte) (int, error) {
	if w.done {
		return 0, ErrClosed
	}
	if w.err != nil {
		return 0, w.err
	}
	written := 0
	for len(p) > 0 {
		if w.cur == nil {
			if err := w.startPart(); err != nil {
				w.err = err
				return written, err
			}
		}
		n := int(min(int64(len(p)), w.opts.partSize-w.curLen))
		if _, err := w.buf.Write(p[:n]); err != nil {
			w.err = fmt.Errorf("media: write %s: %w", w.cur.Name(), err)
			return written, w.err
		}
		_, _ = w.hash.Write(p[:n]) // never fails
		w.curLen += int64(n)
		w.size += int64(n)
		written += n
		p = p[n:]
		if w.curLen == w.opts.partSize {
			if err := w.finishPart(); err != nil {
				w.err = err
				return written, err
			}
		}
	}
	return written, nil
}

func (w *Writer) startPart() error {
	n := len(w.parts) + 1
	if n > w.opts.maxParts {
		return fmt.Errorf("%w: the stream needs more than %d parts of %d bytes", ErrLimit, w.opts.maxParts, w.opts.partSize)
	}
	f, err := w.root.OpenFile(PartName(n), os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		if errors.Is(err, fs.ErrExist) {
			return fmt.Errorf("%w: %s appeared while writing", ErrExists, PartName(n))
		}
		return fmt.Errorf("media: %w", err)
	}
	w.cur, w.curLen = f, 0
	if w.buf == nil {
		w.buf = bufio.NewWriterSize(f, writeBufferSize)
	} else {
		w.buf.Reset(f)
	}
	w.hash.Reset()
	return nil
}

// finishPart makes the current part durable and records it.
func (w *Writer) finishPart() error {
	f := w.cur
	w.cur = nil
	err := w.buf.Flush()
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("media: finish %s: %w", f.Name(), err)
	}
	n := len(w.parts) + 1
	w.parts = append(w.parts, Part{Name: PartName(n), Size: w.curLen, BLAKE3: hex.EncodeToString(w.hash.Sum(nil))})
	return nil
}

// Close finishes the last part and commits the stream by writing the
// manifest atomically (temporary file, fsync, rename, fsync of the
// directory). When the stream cannot be committed (a Write failed before,
// or the commit itself fails before the rename), Close removes the part
// files this Writer created and returns the error, leaving the directory
// ready for a new stream. Close is idempotent: later calls return the same
// result.
func (w *Writer) Close() error {
	if w.done {
		return w.closeErr
	}
	w.done = true
	renamed := false
	renamed, w.closeErr = w.commit()
	if w.closeErr != nil && !renamed {
		_ = w.removeParts()
	}
	if err := w.root.Close(); w.closeErr == nil && err != nil {
		w.closeErr = fmt.Errorf("media: %w", err)
	}
	return w.closeErr
}

// commit writes the manifest; renamed reports whether it reached its
// final name (after which the stream must not be taken apart).
func (w *Writer) commit() (renamed bool, err error) {
	if w.err != nil {
		return false, w.err
	}
	if w.cur != nil {
		if err := w.finishPart(); err != nil {
			return false, err
		}
	}
	m := Manifest{
		Version:   FormatVersion,
		StreamID:  w.id,
		Size:      w.size,
		PartSize:  w.opts.partSize,
		PartCount: len(w.parts),
		Parts:     w.parts,
		Labels:    w.opts.labels,
	}
	data, err := encodeManifest(m)
	if err != nil {
		return false, err
	}
	// The part files' directory entries must be durable before the
	// manifest that names them.
	if err := syncDir(w.root); err != nil {
		return false, err
	}
	if err := writeFileSync(w.root, manifestTemp, data); err != nil {
		return false, err
	}
	if err := w.root.Rename(manifestTemp, ManifestName); err != nil {
		return false, fmt.Errorf("media: commit manifest: %w", err)
	}
	if err := syncDir(w.root); err != nil {
		return true, err
	}
	w.manifest = m
	return true, nil
}

// Abort abandons the stream: it closes the current part and removes the
// part files this Writer created, so the directory can take a new stream.
// Call it instead of Close when the source failed; Close would commit what
// was written so far as a complete, shorter stream. Abort after Close
// does nothing; after Abort, Write and Close return ErrClosed.
func (w *Writer) Abort() error {
	if w.done {
		return nil
	}
	w.done = true
	w.closeErr = ErrClosed
	err := w.removeParts()
	if cerr := w.root.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("media: %w", cerr)
	}
	return err
}

// removeParts closes the current part and removes every part and the
// temporary manifest this Writer created.
func (w *Writer) removeParts() error {
	n := len(w.parts)
	if w.cur != nil {
		_ = w.cur.Close()
		w.cur = nil
		n++
	}
	var first error
	for _, name := range append([]string{manifestTemp}, partNames(n)...) {
		if err := w.root.Remove(name); err != nil && !errors.Is(err, fs.ErrNotExist) && first == nil {
			first = fmt.Errorf("media: remove: %w", err)
		}
	}
	if err := syncDir(w.root); err != nil && first == nil {
		first = err
	}
	return first
}

func partNames(n int) []string {
	names := make([]string, n)
	for i := range names {
		names[i] = PartName(i + 1)
	}
	return names
}

// Manifest returns the manifest Close committed, or the zero Manifest
// before a successful Close.
func (w *Writer) Manifest() Manifest {
	return w.manifest.clone()
}

func writeFileSync(root *os.Root, name string, data []byte) error {
	f, err := root.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return fmt.Errorf("media: %w", err)
	}
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("media: write %s: %w", name, err)
	}
	return nil
}

func syncDir(root *os.Root) error {
	d, err := root.Open(".")
	if err != nil {
		return fmt.Errorf("media: %w", err)
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("media: sync directory %s: %w", root.Name(), err)
	}
	return nil
}
