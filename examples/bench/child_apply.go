package main

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/blockrep/blockrep/checkpoint"
	"github.com/blockrep/blockrep/checkpoint/vfs"
)

// runApply applies the delta stream in spec.Input to group spec.Group of the
// store in spec.Store, as a replica does once a delta has arrived: verify,
// save the overwritten blocks to an undo log, write, sync, commit.
func runApply(ctx context.Context, spec childSpec) (res childResult, err error) {
	store, err := checkpoint.Open(vfs.OS(), spec.Store)
	if err != nil {
		return res, err
	}
	defer func() { err = errors.Join(err, store.Close()) }()
	g, err := store.Group(ctx, spec.Group)
	if err != nil {
		return res, err
	}
	in, err := os.Open(spec.Input)
	if err != nil {
		return res, err
	}
	defer in.Close()
	stop, err := startProfile(spec.Profile)
	if err != nil {
		return res, err
	}
	start := time.Now()
	ar, err := g.Apply(ctx, bufio.NewReaderSize(in, 1<<20))
	res.Seconds = time.Since(start).Seconds()
	stop()
	if err != nil {
		return res, err
	}
	res.Point = ar.Point.ID.String()
	res.Blocks = ar.Point.ChangedBlocks()
	res.StreamBytes = ar.Point.Size
	return res, nil
}

// runPlainWrite is apply's baseline: it reads the blocks in spec.Input (each
// an 8-byte offset and a block) and writes them to spec.Volume, then syncs.
func runPlainWrite(spec childSpec) (res childResult, err error) {
	in, err := os.Open(spec.Input)
	if err != nil {
		return res, err
	}
	defer in.Close()
	f, err := os.OpenFile(spec.Volume, os.O_RDWR, 0)
	if err != nil {
		return res, err
	}
	defer func() { err = errors.Join(err, f.Close()) }()
	start := time.Now()
	r := bufio.NewReaderSize(in, 1<<20)
	buf := make([]byte, 8+blockSize)
	for {
		if _, err := io.ReadFull(r, buf); err != nil {
			if errors.Is(err, io.EOF) {
				break
			}
			return res, fmt.Errorf("reading the blocks: %w", err)
		}
		if _, err := f.WriteAt(buf[8:], int64(binary.BigEndian.Uint64(buf))); err != nil {
			return res, err
		}
		res.Blocks++
	}
	if err := f.Sync(); err != nil {
		return res, err
	}
	res.Seconds = time.Since(start).Seconds()
	return res, nil
}
