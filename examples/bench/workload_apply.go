package main

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/blockrep/blockrep/checkpoint"
	"github.com/blockrep/blockrep/checkpoint/vfs"
	"github.com/blockrep/blockrep/delta"
)

const applyGroup = "apply"

// apply: the replica's side alone — a delta of 10% of the blocks applied
// to a store with undo log and fsync, vs writing the same blocks to a plain
// file and fsyncing it.
func (b *bench) apply(ctx context.Context) (*workload, error) {
	dir := filepath.Join(b.dir, "apply")
	plain := filepath.Join(dir, "plain.img")
	store := filepath.Join(dir, "store")
	if err := os.MkdirAll(store, 0o755); err != nil {
		return nil, err
	}
	if err := copyFile(plain, b.aVol); err != nil {
		return nil, err
	}
	last, err := seedStore(ctx, store, plain, b.cfg.size)
	if err != nil {
		return nil, fmt.Errorf("first point of the apply store: %w", err)
	}
	n := max(1, b.cfg.size/blockSize/10)
	wl := &workload{Name: "apply", Description: fmt.Sprintf(
		"replica-side apply of a delta of %d whole 64 KiB blocks (10%%, text-like and random data) into a checkpoint store "+
			"(verify, undo log, write, fsync, commit; a child process runs Group.Apply on the stream file) vs plain pwrite+fsync "+
			"of the same blocks into a copy of the volume. The ratio is throughput: plain's time / blockrep's.", n)}
	for r := range b.cfg.rounds {
		ws := makeBlockChange(b.cfg.seed, uint64(saltApply+r), b.cfg.size, n)
		stream := filepath.Join(dir, "round.delta")
		next, err := encodeBlocks(ctx, stream, last, b.cfg.size, ws)
		if err != nil {
			return nil, err
		}
		blocks := filepath.Join(dir, "round.blocks")
		if err := writeBlocksFile(blocks, ws); err != nil {
			return nil, err
		}
		if err := warm(store, stream); err != nil {
			return nil, err
		}
		res, rss, err := b.self.run(ctx, childSpec{Role: "apply", Mode: "apply", Store: store, Group: applyGroup, Input: stream, Profile: b.profile(fmt.Sprintf("apply-r%d", r))})
		if err != nil {
			return nil, err
		}
		if res.Point != next.String() {
			return nil, fmt.Errorf("apply made point %s, want %s", res.Point, next)
		}
		last = next
		wl.side("blockrep").add(sample{seconds: res.Seconds, rss: rss, result: res})
		if err := warm(plain, blocks); err != nil {
			return nil, err
		}
		res, rss, err = b.self.run(ctx, childSpec{Role: "plainwrite", Mode: "plainwrite", Volume: plain, Input: blocks})
		if err != nil {
			return nil, err
		}
		wl.side("plain write+fsync").add(sample{seconds: res.Seconds, rss: rss, result: res})
		if err := verifyStore(ctx, store, applyGroup, last.String(), plain, b.cfg.size); err != nil {
			return nil, err
		}
	}
	return wl, nil
}

// seedStore creates the apply group in the store at dir and applies a full
// delta of the file vol as its first point.
func seedStore(ctx context.Context, dir, vol string, size int64) (id delta.PointID, err error) {
	store, err := checkpoint.Open(vfs.OS(), dir)
	if err != nil {
		return id, err
	}
	defer func() { err = errors.Join(err, store.Close()) }()
	g, err := store.CreateGroup(ctx, applyGroup, checkpoint.GroupSpec{
		Volumes: []delta.VolumeInfo{{ID: "disk", Size: size}}, BlockSize: blockSize})
	if err != nil {
		return id, err
	}
	f, err := os.Open(vol)
	if err != nil {
		return id, err
	}
	defer f.Close()
	geom, err := delta.NewGeometry(size, blockSize)
	if err != nil {
		return id, err
	}
	src, err := delta.NewSource([]io.ReaderAt{f}, []delta.Geometry{geom}, nil)
	if err != nil {
		return id, err
	}
	path := filepath.Join(dir, "..", "full.delta")
	if id, err = encodeTo(ctx, path, delta.PointID{}, size, src); err != nil {
		return id, err
	}
	defer os.Remove(path)
	in, err := os.Open(path)
	if err != nil {
		return id, err
	}
	defer in.Close()
	_, err = g.Apply(ctx, bufio.NewReaderSize(in, 1<<20))
	return id, err
}

// encodeBlocks writes to path a delta on base carrying the blocks of ws.
func encodeBlocks(ctx context.Context, path string, base delta.PointID, size int64, ws []write) (delta.PointID, error) {
	geom, err := delta.NewGeometry(size, blockSize)
	if err != nil {
		return delta.PointID{}, err
	}
	set := delta.NewSet(geom.Blocks())
	ov := overlay{blocks: make(map[int64][]byte, len(ws))}
	for _, w := range ws {
		set.Add(w.off / blockSize)
		ov.blocks[w.off/blockSize] = w.data
	}
	src, err := delta.NewSource([]io.ReaderAt{ov}, []delta.Geometry{geom}, []*delta.Set{set})
	if err != nil {
		return delta.PointID{}, err
	}
	return encodeTo(ctx, path, base, size, src)
}

func encodeTo(ctx context.Context, path string, base delta.PointID, size int64, src delta.Source) (delta.PointID, error) {
	id, err := delta.NewPointID(rand.Reader)
	if err != nil {
		return id, err
	}
	out, err := os.Create(path)
	if err != nil {
		return id, err
	}
	w := bufio.NewWriterSize(out, 1<<20)
	enc, err := delta.NewEncoder(w, delta.Header{Group: applyGroup, Base: base, New: id, Time: time.Now(),
		BlockSize: blockSize, Volumes: []delta.VolumeInfo{{ID: "disk", Size: size}}})
	if err == nil {
		_, err = enc.Encode(ctx, src)
	}
	if err == nil {
		err = w.Flush()
	}
	return id, errors.Join(err, out.Close())
}

// overlay reads the whole blocks a change writes (the only ones an encoder
// over its set asks for).
type overlay struct {
	blocks map[int64][]byte
}

func (o overlay) ReadAt(p []byte, off int64) (int, error) {
	n := 0
	for n < len(p) {
		blk, ok := o.blocks[(off+int64(n))/blockSize]
		if !ok {
			return n, fmt.Errorf("overlay: block at %d is not in the change", off+int64(n))
		}
		n += copy(p[n:], blk[(off+int64(n))%blockSize:])
	}
	return n, nil
}

// writeBlocksFile writes ws as the plain baseline reads them: an 8-byte
// offset, then the block.
func writeBlocksFile(path string, ws []write) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	w := bufio.NewWriterSize(f, 1<<20)
	for _, x := range ws {
		var off [8]byte
		binary.BigEndian.PutUint64(off[:], uint64(x.off))
		w.Write(off[:])
		w.Write(x.data)
	}
	if err := w.Flush(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
