package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
)

// writeMixedFile writes a volume of size bytes of mixed content to path.
func writeMixedFile(path string, size int64, seed uint64) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	c := newContent(seed, 0)
	w := bufio.NewWriterSize(f, 1<<20)
	blk := make([]byte, blockSize)
	for off := int64(0); off < size; off += blockSize {
		c.volumeBlock(blk)
		if _, err := w.Write(blk); err != nil {
			f.Close()
			return err
		}
	}
	if err := w.Flush(); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// createSparse creates path as a sparse file of size bytes.
func createSparse(path string, size int64) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := f.Truncate(size); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// copyFile copies src to dst and syncs dst.
func copyFile(dst, src string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.Create(dst)
	if err != nil {
		return err
	}
	if _, err := io.CopyBuffer(out, in, make([]byte, 1<<20)); err != nil {
		out.Close()
		return err
	}
	if err := out.Sync(); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

// applyWrites writes ws to the file at path, as another program would, and
// syncs it, so that no write-back of these pages lands in a measurement.
func applyWrites(path string, ws []write) error {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return err
	}
	for _, w := range ws {
		if _, err := f.WriteAt(w.data, w.off); err != nil {
			f.Close()
			return err
		}
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// compareAt compares size bytes of a and b and names the first difference.
func compareAt(a, b io.ReaderAt, size int64) error {
	n := min(1<<20, size)
	return compareBuffered(a, b, size, make([]byte, n), make([]byte, n))
}

// compareBuffered is compareAt reading through the caller's buffers, of
// equal non-zero length.
func compareBuffered(a, b io.ReaderAt, size int64, pa, pb []byte) error {
	chunk := int64(len(pa))
	for off := int64(0); off < size; off += chunk {
		n := int(min(chunk, size-off))
		if _, err := a.ReadAt(pa[:n], off); err != nil && !(errors.Is(err, io.EOF) && off+int64(n) == size) {
			return fmt.Errorf("reading the source at %d: %w", off, err)
		}
		if _, err := b.ReadAt(pb[:n], off); err != nil && !(errors.Is(err, io.EOF) && off+int64(n) == size) {
			return fmt.Errorf("reading the copy at %d: %w", off, err)
		}
		if !bytes.Equal(pa[:n], pb[:n]) {
			for i := range n {
				if pa[i] != pb[i] {
					return fmt.Errorf("the copy differs from the source at byte %d", off+int64(i))
				}
			}
		}
	}
	return nil
}

// compareFiles compares two files byte for byte, sizes included.
func compareFiles(a, b string) error {
	fa, err := os.Open(a)
	if err != nil {
		return err
	}
	defer fa.Close()
	fb, err := os.Open(b)
	if err != nil {
		return err
	}
	defer fb.Close()
	sa, err := fa.Stat()
	if err != nil {
		return err
	}
	sb, err := fb.Stat()
	if err != nil {
		return err
	}
	if sa.Size() != sb.Size() {
		return fmt.Errorf("%s has %d bytes, %s %d", a, sa.Size(), b, sb.Size())
	}
	if err := compareAt(fa, fb, sa.Size()); err != nil {
		return fmt.Errorf("%s vs %s: %w", a, b, err)
	}
	return nil
}

// warm reads every regular file under the given paths once, so that each
// side starts a measurement with its files in the page cache alike.
func warm(paths ...string) error {
	buf := make([]byte, 1<<20)
	for _, root := range paths {
		err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				if errors.Is(err, fs.ErrNotExist) {
					return nil
				}
				return err
			}
			if !d.Type().IsRegular() {
				return nil
			}
			f, err := os.Open(path)
			if err != nil {
				return err
			}
			_, err = io.CopyBuffer(io.Discard, struct{ io.Reader }{f}, buf)
			f.Close()
			return err
		})
		if err != nil {
			return fmt.Errorf("warming %s: %w", root, err)
		}
	}
	return nil
}

// writeFileAtomic writes data to path through a synced temporary file and a
// rename, so a crash leaves the old or the new content.
func writeFileAtomic(path string, data []byte) error {
	tmp := path + ".tmp"
	f, err := os.Create(tmp)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		return err
	}
	d, err := os.Open(filepath.Dir(path))
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
