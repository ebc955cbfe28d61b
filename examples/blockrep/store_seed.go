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
