package main

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/klauspost/compress/zstd"
	"github.com/zeebo/blake3"
)

// The machine's limits, measured in the parent process with plain Go loops
// and no blockrep code.

// limitWorkers is how many goroutines the read-and-compress limit uses: the
// issue's "on 2 cores".
const limitWorkers = 2

// initialLimit measures the two halves of a full copy on this machine and
// returns the slower: reading path and compressing it with zstd at the level
// of blockrep's full copy (SpeedFastest, replica.fullStreamOpts), 1 MiB at a
// time, limitWorkers at a time, and writing as many bytes to a new file with
// one fsync at the end.
func initialLimit(path, scratch string, size int64) (limit, readCompress, write float64, err error) {
	if readCompress, err = readCompressTime(path, size); err != nil {
		return 0, 0, 0, err
	}
	if write, err = writeSyncTime(path, scratch, size); err != nil {
		return 0, 0, 0, err
	}
	return max(readCompress, write), readCompress, write, nil
}

func readCompressTime(path string, size int64) (float64, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	const chunk = 1 << 20
	var next atomic.Int64
	errs := make([]error, limitWorkers)
	var wg sync.WaitGroup
	start := time.Now()
	for w := range limitWorkers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			enc, err := zstd.NewWriter(nil, zstd.WithEncoderLevel(zstd.SpeedFastest), zstd.WithEncoderConcurrency(1))
			if err != nil {
				errs[w] = err
				return
			}
			defer enc.Close()
			buf := make([]byte, chunk)
			dst := make([]byte, 0, blockSize+blockSize/8)
			for {
				off := next.Add(chunk) - chunk
				if off >= size {
					return
				}
				n := int(min(chunk, size-off))
				if _, err := f.ReadAt(buf[:n], off); err != nil {
					errs[w] = err
					return
				}
				for b := 0; b < n; b += blockSize {
					dst = enc.EncodeAll(buf[b:min(n, b+blockSize)], dst[:0])
				}
			}
		}()
	}
	wg.Wait()
	return time.Since(start).Seconds(), errors.Join(errs...)
}

// writeSyncTime writes size bytes (the first MiB of src, repeated) to a new
// file scratch and syncs it.
func writeSyncTime(src, scratch string, size int64) (float64, error) {
	buf := make([]byte, 1<<20)
	in, err := os.Open(src)
	if err != nil {
		return 0, err
	}
	_, err = in.ReadAt(buf, 0)
	in.Close()
	if err != nil {
		return 0, err
	}
	defer os.Remove(scratch)
	start := time.Now()
	out, err := os.Create(scratch)
	if err != nil {
		return 0, err
	}
	for off := int64(0); off < size; off += int64(len(buf)) {
		if _, err := out.Write(buf[:min(int64(len(buf)), size-off)]); err != nil {
			out.Close()
			return 0, err
		}
	}
	if err := out.Sync(); err != nil {
		out.Close()
		return 0, err
	}
	secs := time.Since(start).Seconds()
	return secs, out.Close()
}

// cycleLimit is the plain Go loop of the orientation figure for a
// cycle whose dirty pages are known: read each written page of path, hash it
// (BLAKE3) and compress it (zstd), write the lot to a spool file and fsync it;
// then decompress each page, verify its hash, write it into a replica file
// (scratch, sparse) and fsync that. No network, no undo log, no commit.
func cycleLimit(path, dir string, size int64, ws []write) (float64, error) {
	src, err := os.Open(path)
	if err != nil {
		return 0, err
	}
	defer src.Close()
	spoolPath, replicaPath := dir+"/limit-spool", dir+"/limit-replica"
	if err := createSparse(replicaPath, size); err != nil {
		return 0, err
	}
	defer os.Remove(replicaPath)
	defer os.Remove(spoolPath)
	enc, err := zstd.NewWriter(nil, zstd.WithEncoderLevel(zstd.SpeedDefault), zstd.WithEncoderConcurrency(1))
	if err != nil {
		return 0, err
	}
	defer enc.Close()
	dec, err := zstd.NewReader(nil, zstd.WithDecoderConcurrency(1))
	if err != nil {
		return 0, err
	}
	defer dec.Close()
	start := time.Now()
	page := make([]byte, pageSize)
	spool := make([]byte, 0, len(ws)*(pageSize+64))
	for _, w := range ws {
		if _, err := src.ReadAt(page, w.off); err != nil {
			return 0, err
		}
		sum := blake3.Sum256(page)
		spool = binary.BigEndian.AppendUint64(spool, uint64(w.off))
		spool = append(spool, sum[:]...)
		lenAt := len(spool)
		spool = append(spool, 0, 0, 0, 0)
		spool = enc.EncodeAll(page, spool)
		binary.BigEndian.PutUint32(spool[lenAt:], uint32(len(spool)-lenAt-4))
	}
	if err := writeSynced(spoolPath, spool); err != nil {
		return 0, err
	}
	dst, err := os.OpenFile(replicaPath, os.O_RDWR, 0)
	if err != nil {
		return 0, err
	}
	defer dst.Close()
	for p := spool; len(p) > 0; {
		off := int64(binary.BigEndian.Uint64(p))
		sum := p[8:40]
		n := int(binary.BigEndian.Uint32(p[40:]))
		out, err := dec.DecodeAll(p[44:44+n], page[:0])
		if err != nil {
			return 0, err
		}
		if got := blake3.Sum256(out); !bytes.Equal(got[:], sum) {
			return 0, fmt.Errorf("page at %d: hash mismatch", off)
		}
		if _, err := dst.WriteAt(out, off); err != nil {
			return 0, err
		}
		p = p[44+n:]
	}
	if err := dst.Sync(); err != nil {
		return 0, err
	}
	return time.Since(start).Seconds(), nil
}

func writeSynced(path string, data []byte) error {
	f, err := os.Create(path)
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
	return f.Close()
}
