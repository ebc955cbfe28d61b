package main

import (
	"context"
	"errors"
	"io"
	"os"
)

// seedResult is what a seed request did.
type seedResult struct {
	Group string    `json:"group"`
	Point pointJSON `json:"point"`
}

// seed imports the files as the group's seed point.
func (h *storeHost) seed(ctx context.Context, group string, paths []string) (seedResult, error) {
	var files []*os.File
	defer func() {
		for _, f := range files {
			f.Close()
		}
	}()
	vols := make([]io.ReaderAt, 0, len(paths))
	for _, p := range paths {
		f, err := os.Open(p)
		if err != nil {
			return seedResult{}, err
		}
		files = append(files, f)
		vols = append(vols, f)
	}
	if len(vols) == 0 {
		return seedResult{}, errors.New("no volume given")
	}
	p, err := h.rh.Seed(ctx, group, vols)
	if err != nil {
		return seedResult{}, err
	}
	return seedResult{Group: group, Point: pointOf(p)}, nil
}

// importResult is what an import request did.
type importResult struct {
	Group    string    `json:"group"`
	Point    pointJSON `json:"point"`
	Bytes    int64     `json:"bytes"`
	Replayed bool      `json:"replayed"`
	Created  bool      `json:"created"`
}

// importMedia applies a media initial replication's stream.
func (h *storeHost) importMedia(ctx context.Context, dir string) (importResult, error) {
	res, err := h.rh.Import(ctx, dir)
	if err != nil {
		return importResult{}, err
	}
	return importResult{Group: res.Group, Point: pointOf(res.Point), Bytes: res.Bytes, Replayed: res.Replayed, Created: res.Created}, nil
}
