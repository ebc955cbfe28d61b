package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/blockrep/blockrep/checkpoint"
	"github.com/blockrep/blockrep/delta"
)

// imageName checks a volume name from the store before it names a file:
// one path element, never "." or "..".
func imageName(name string) (string, error) {
	if name == "" || name == "." || name == ".." || filepath.Base(name) != name || name != filepath.Clean(name) {
		return "", fmt.Errorf("volume name %q cannot name a file", name)
	}
	return name, nil
}

// createImages creates, in out, one empty sparse file per volume, named
// by the volume and sized to it.
func createImages(out string, vols []delta.VolumeInfo) ([]*os.File, error) {
	if !filepath.IsAbs(out) {
		return nil, fmt.Errorf("output directory %q is not absolute", out)
	}
	if err := os.MkdirAll(out, 0o755); err != nil {
		return nil, err
	}
	var files []*os.File
	for _, v := range vols {
		name, err := imageName(v.ID)
		if err == nil {
			var f *os.File
			f, err = os.OpenFile(filepath.Join(out, name), os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o644)
			if err == nil {
				files = append(files, f)
				err = f.Truncate(v.Size)
			}
		}
		if err != nil {
			closeImages(files, false)
			return nil, err
		}
	}
	return files, nil
}

// closeImages syncs (when keep) and closes the files, returning their
// names; when not keep, it removes them.
func closeImages(files []*os.File, keep bool) ([]string, error) {
	var names []string
	var errs []error
	for _, f := range files {
		if keep {
			if err := f.Sync(); err != nil {
				errs = append(errs, err)
			}
		}
		if err := f.Close(); err != nil {
			errs = append(errs, err)
		}
		if keep {
			names = append(names, f.Name())
		} else {
			os.Remove(f.Name())
		}
	}
	return names, errors.Join(errs...)
}

// copyVolumes writes the volumes of a failover or test failover into out.
func copyVolumes(ctx context.Context, out string, vols []checkpoint.VolumeReadWriter) ([]string, error) {
	infos := make([]delta.VolumeInfo, len(vols))
	for i, v := range vols {
		infos[i] = delta.VolumeInfo{ID: v.ID(), Size: v.Size()}
	}
	files, err := createImages(out, infos)
	if err != nil {
		return nil, err
	}
	for i, v := range vols {
		if err = copySparse(ctx, files[i], v, v.Size()); err != nil {
			break
		}
	}
	names, cerr := closeImages(files, err == nil)
	return names, errors.Join(err, cerr)
}

// copySparse copies size bytes of src to a zero-filled dst, skipping
// chunks that are all zero.
func copySparse(ctx context.Context, dst io.WriterAt, src io.ReaderAt, size int64) error {
	buf := make([]byte, 1<<20)
	zero := make([]byte, len(buf))
	for off := int64(0); off < size; off += int64(len(buf)) {
		if err := ctx.Err(); err != nil {
			return err
		}
		b := buf[:min(int64(len(buf)), size-off)]
		if n, err := src.ReadAt(b, off); err != nil && !(errors.Is(err, io.EOF) && n == len(b)) {
			return err
		}
		if bytes.Equal(b, zero[:len(b)]) {
			continue
		}
		if _, err := dst.WriteAt(b, off); err != nil {
			return err
		}
	}
	return nil
}
