package media

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"

	"github.com/zeebo/blake3"
)

// Reader gives back a stream written by a Writer, checking it on the way.
// Open has checked the manifest and the presence and size of every part;
// Read checks each part's checksum before it returns the part's last byte
// (see the package documentation: the stream is verified only when Read
// returns io.EOF). A Reader is not safe for concurrent use.
type Reader struct {
	root *os.Root
	m    Manifest

	next   int      // index in m.Parts of the part to open next
	cur    *os.File // part being read, nil between parts
	part   int      // index of cur in m.Parts
	remain int64    // bytes of cur not yet returned
	hash   *blake3.Hasher

	err    error // sticky: io.EOF at the end, or the first failure
	closed bool
}

// Open reads and checks the manifest in dir and checks the directory
// against it: every listed part present as a regular file of the listed
// size, no part file the manifest does not list. Errors: ErrIncomplete
// when there is no manifest or a part is missing, ErrCorrupt for anything
// else found wrong (often inside a *PartError), ErrLimit for a bad option.
// Options: WithMaxParts.
func Open(dir string, opts ...Option) (*Reader, error) {
	o, err := applyOptions(opts)
	if err != nil {
		return nil, err
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		return nil, fmt.Errorf("media: %w", err)
	}
	m, err := readManifest(root, o.maxParts)
	if err == nil {
		err = checkParts(root, m)
	}
	if err != nil {
		_ = root.Close()
		return nil, err
	}
	return &Reader{root: root, m: m, hash: blake3.New()}, nil
}

// readManifest reads the manifest file, refusing anything but a regular
// file within MaxManifestSize before reading it.
func readManifest(root *os.Root, maxParts int) (Manifest, error) {
	fi, err := root.Lstat(ManifestName)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return Manifest{}, fmt.Errorf("%w: no %s in %s (the writer did not finish)", ErrIncomplete, ManifestName, root.Name())
	case err != nil:
		return Manifest{}, fmt.Errorf("media: %w", err)
	case !fi.Mode().IsRegular():
		return Manifest{}, corruptManifest("%s is not a regular file (%v)", ManifestName, fi.Mode().Type())
	case fi.Size() > MaxManifestSize:
		return Manifest{}, corruptManifest("%d bytes, at most %d", fi.Size(), MaxManifestSize)
	}
	f, err := root.Open(ManifestName)
	if err != nil {
		return Manifest{}, fmt.Errorf("media: %w", err)
	}
	defer f.Close()
	// The file may have grown since Lstat: read at most one byte past the
	// limit, so that growth is seen without reading it all.
	data, err := io.ReadAll(io.LimitReader(f, MaxManifestSize+1))
	if err != nil {
		return Manifest{}, fmt.Errorf("media: read %s: %w", ManifestName, err)
	}
	return decodeManifest(data, maxParts)
}

// checkParts compares the directory with the manifest.
func checkParts(root *os.Root, m Manifest) error {
	err := scanDir(root, func(name string) error {
		n, isPart := parsePartName(name)
		if isPart && (n < 1 || n > len(m.Parts)) {
			return corruptPart(n, name, "part file not listed in the manifest")
		}
		return nil
	})
	if err != nil {
		return err
	}
	for i, p := range m.Parts {
		if err := checkPartFile(root, i+1, p); err != nil {
			return err
		}
	}
	return nil
}

func checkPartFile(root *os.Root, n int, p Part) error {
	fi, err := root.Lstat(p.Name)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return &PartError{Part: n, Name: p.Name, Reason: "missing", Err: ErrIncomplete}
		}
		return fmt.Errorf("media: %w", err)
	}
	return checkPartInfo(n, p, fi)
}

func checkPartInfo(n int, p Part, fi fs.FileInfo) error {
	switch {
	case !fi.Mode().IsRegular():
		return corruptPart(n, p.Name, "not a regular file (%v)", fi.Mode().Type())
	case fi.Size() < p.Size:
		return corruptPart(n, p.Name, "truncated: %d bytes, manifest says %d", fi.Size(), p.Size)
	case fi.Size() > p.Size:
		return corruptPart(n, p.Name, "%d bytes, longer than the %d the manifest says", fi.Size(), p.Size)
	}
	return nil
}

// Manifest returns the stream's manifest (a copy).
func (r *Reader) Manifest() Manifest {
	return r.m.clone()
}

// Read reads the next bytes of the stream. Bytes of a part are returned
// as they are read, except its last bytes: the read that would complete a
// part first checks the part's checksum and, on a mismatch, returns no
// bytes and a *PartError wrapping ErrCorrupt. io.EOF comes only after the
// last part checked out. An error is final: later calls return it.
func (r *Reader) Read(p []byte) (int, error) {
	if r.closed {
		return 0, ErrClosed
	}
	if r.err != nil {
		return 0, r.err
	}
	if len(p) == 0 {
		return 0, nil
	}
	if r.cur == nil {
		if r.next == len(r.m.Parts) {
			r.err = io.EOF
			return 0, io.EOF
		}
		if err := r.openPart(); err != nil {
			r.err = err
			return 0, err
		}
	}
	n, err := r.readPart(p)
	if err != nil {
		r.err = err
		r.closePart()
	}
	return n, err
}

func (r *Reader) openPart() error {
	i := r.next
	p := r.m.Parts[i]
	f, err := r.root.Open(p.Name)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return &PartError{Part: i + 1, Name: p.Name, Reason: "missing", Err: ErrIncomplete}
		}
		return fmt.Errorf("media: %w", err)
	}
	// The directory may have changed since Open: check the file opened.
	fi, err := f.Stat()
	if err == nil {
		err = checkPartInfo(i+1, p, fi)
	}
	if err != nil {
		_ = f.Close()
		return err
	}
	r.cur, r.part, r.remain = f, i, p.Size
	r.next++
	r.hash.Reset()
	return nil
}

// readPart reads from the current part into p.
func (r *Reader) readPart(p []byte) (int, error) {
	part := r.m.Parts[r.part]
	if int64(len(p)) < r.remain {
		// Not the end of the part: hand the bytes out as they come.
		n, err := r.cur.Read(p)
		r.hash.Write(p[:n])
		r.remain -= int64(n)
		switch {
		case n > 0:
			return n, nil
		case err == io.EOF:
			return 0, corruptPart(r.part+1, part.Name, "truncated while reading: %d bytes short", r.remain)
		case err != nil:
			return 0, fmt.Errorf("media: read %s: %w", part.Name, err)
		}
		return 0, nil
	}
	// The rest of the part fits: read all of it and check before
	// returning any of it.
	last := p[:r.remain]
	if _, err := io.ReadFull(r.cur, last); err != nil {
		if errors.Is(err, io.ErrUnexpectedEOF) || err == io.EOF {
			return 0, corruptPart(r.part+1, part.Name, "truncated while reading")
		}
		return 0, fmt.Errorf("media: read %s: %w", part.Name, err)
	}
	var extra [1]byte
	if n, _ := r.cur.Read(extra[:]); n > 0 {
		return 0, corruptPart(r.part+1, part.Name, "longer than the %d bytes the manifest says", part.Size)
	}
	r.hash.Write(last)
	var sum [32]byte
	r.hash.Sum(sum[:0])
	if got := fmt.Sprintf("%x", sum); got != part.BLAKE3 {
		return 0, corruptPart(r.part+1, part.Name, "checksum mismatch: BLAKE3 %s, manifest says %s", got, part.BLAKE3)
	}
	r.closePart()
	return len(last), nil
}

func (r *Reader) closePart() {
	if r.cur != nil {
		_ = r.cur.Close()
		r.cur = nil
	}
}

// WriteTo writes the rest of the stream to w, with the same checks as
// Read; io.Copy uses it.
func (r *Reader) WriteTo(w io.Writer) (int64, error) {
	buf := make([]byte, readBufferSize)
	var total int64
	for {
		n, err := r.Read(buf)
		if n > 0 {
			m, werr := w.Write(buf[:n])
			total += int64(m)
			if werr != nil {
				return total, werr
			}
			if m < n {
				return total, io.ErrShortWrite
			}
		}
		if err == io.EOF {
			return total, nil
		}
		if err != nil {
			return total, err
		}
	}
}

// readBufferSize is the buffer WriteTo and Verify read parts with.
const readBufferSize = 1 << 20

// Close releases the Reader's files. It is idempotent; Read afterwards
// returns ErrClosed.
func (r *Reader) Close() error {
	if r.closed {
		return nil
	}
	r.closed = true
	r.closePart()
	if err := r.root.Close(); err != nil {
		return fmt.Errorf("media: %w", err)
	}
	return nil
}

// Verify checks the whole stream in dir without handing it to anyone: the
// manifest, the directory, and every part's size and checksum. It returns
// the manifest when everything checked out, and the errors Open and Read
// return otherwise; ctx's error when ctx is done first. Options:
// WithMaxParts.
func Verify(ctx context.Context, dir string, opts ...Option) (Manifest, error) {
	r, err := Open(dir, opts...)
	if err != nil {
		return Manifest{}, err
	}
	defer r.Close()
	buf := make([]byte, readBufferSize)
	for {
		if err := ctx.Err(); err != nil {
			return Manifest{}, err
		}
		_, err := r.Read(buf)
		if err == io.EOF {
			return r.Manifest(), nil
		}
		if err != nil {
			return Manifest{}, err
		}
	}
}
