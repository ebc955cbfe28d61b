package checkpoint

import (
	"context"
	"errors"
	"fmt"
	"io"
	"path"
	"runtime"

	"golang.org/x/sync/errgroup"

	"github.com/blockrep/blockrep/delta"
)

// recBatch is a batch of records copied out of the decoder.
type recBatch struct {
	recs       []delta.Record
	arena      []byte // the records' Data, when copyData
	arenaBytes int    // the batch ends once arena holds this much
	copyData   bool
}

// batchReader reads batches on its own goroutine, two batches ahead at
// most; stop ends the goroutine and waits for it.
type batchReader struct {
	full    chan *recBatch
	free    chan *recBatch
	cancel  context.CancelFunc
	done    chan struct{}
	failure error // set before full is closed
	batches []*recBatch
	arenas  []*bufSlot
}

// recordReader is what batches are filled from: the staged records.
type recordReader interface {
	Next() (*delta.Record, error)
}

// dataStabler is a recordReader some of whose records' Data stays valid
// after the next call to Next: the staging reader's records in memory.
type dataStabler interface {
	// dataStable reports whether the Data of the record the last Next
	// returned stays valid until the reader is dropped.
	dataStable() bool
}

// newBatchReader starts reading batches from dec. With arenas (one slot
// per batch), each batch copies its records' Data into an arena taken from
// its slot and given back on stop, unless dec says that the Data stays
// valid (dataStabler); without, Data must stay valid after dec.Next (a
// stable staging reader) and is not copied.
func newBatchReader(ctx context.Context, dec recordReader, batchBytes, blockSize int, arenas []*bufSlot) *batchReader {
	return newArenaBatchReader(ctx, dec, batchBytes, batchBytes, blockSize, arenas)
}

// newArenaBatchReader is newBatchReader whose batches also end once they
// copied arenaBytes of Data, which bounds the arenas' size to that (plus a
// block) rather than batchBytes.
func newArenaBatchReader(ctx context.Context, dec recordReader, batchBytes, arenaBytes, blockSize int, arenas []*bufSlot) *batchReader {
	ctx, cancel := context.WithCancel(ctx)
	rd := &batchReader{full: make(chan *recBatch, 1), free: make(chan *recBatch, 2), cancel: cancel, done: make(chan struct{})}
	batches := make([]*recBatch, 2)
	rd.batches, rd.arenas = batches, arenas
	for i := range batches {
		batches[i] = &recBatch{}
		if arenas != nil {
			batches[i].copyData = true
			batches[i].arena = arenas[i].take(arenaBytes + blockSize)
			batches[i].arenaBytes = arenaBytes
		}
		rd.free <- batches[i]
	}
	go func() {
		defer close(rd.done)
		defer close(rd.full)

		var carry *delta.Record
		for {
			var b *recBatch
			select {
			case b = <-rd.free:
			case <-ctx.Done():
				rd.failure = ctx.Err()
				return
			}
			eof, rest, err := b.fill(dec, batchBytes, blockSize, carry)
			if err != nil {
				rd.failure = err
				return
			}
			carry = rest
			if len(b.recs) > 0 {
				select {
				case rd.full <- b:
				case <-ctx.Done():
					rd.failure = ctx.Err()
					return
				}
			}
			if eof {
				return
			}
		}
	}()
	return rd
}

// err reports why decoding stopped early; valid once full is drained.
func (rd *batchReader) err() error { return rd.failure }

// stop ends the reading goroutine and gives the arenas back: the caller
// must be done with every batch.
func (rd *batchReader) stop() {
	rd.cancel()
	<-rd.done
	for i, b := range rd.batches {
		if rd.arenas != nil {
			rd.arenas[i].give(b.arena)
			b.arena = nil
		}
	}
}

// fill reads records until the batch would save about batchBytes of undo
// (a block's worth per block it overwrites) or holds maxBatchRecords
// records, or the stream ends (eof). A run of zero blocks larger than that
// is split: what does not fit is returned as carry, for the next batch.
func (b *recBatch) fill(dec recordReader, batchBytes, blockSize int, carry *delta.Record) (eof bool, rest *delta.Record, err error) {
	b.recs, b.arena = b.recs[:0], b.arena[:0]
	stabler, _ := dec.(dataStabler)
	weight := 0
	for weight < batchBytes && len(b.recs) < maxBatchRecords && (!b.copyData || len(b.arena) < b.arenaBytes) {
		var r delta.Record
		if carry != nil {
			r, carry = *carry, nil
		} else {
			rec, err := dec.Next()
			if errors.Is(err, io.EOF) {
				return true, nil, nil
			}
			if err != nil {
				return false, nil, err
			}
			r = *rec
			if r.Data != nil && b.copyData && (stabler == nil || !stabler.dataStable()) {
				// Data is only valid until Next: keep a copy in the arena.
				at := len(b.arena)
				b.arena = append(b.arena, r.Data...)
				r.Data = b.arena[at:len(b.arena):len(b.arena)]
			}
			if rec.Pages != nil {
				r.Pages = append(delta.PageMask(nil), rec.Pages...)
			}
		}
		if room := int64(max(1, (batchBytes-weight)/blockSize)); r.Count > room {
			tail := r
			tail.Block, tail.Count = r.Block+room, r.Count-room
			r.Count = room
			b.recs = append(b.recs, r)
			return false, &tail, nil
		}
		weight += int(r.Count) * blockSize
		b.recs = append(b.recs, r)
	}
	return false, nil, nil
}

// applyBatch writes the new content of a batch (its undo is durable: see
// commitUndo) and updates the live hash lists. The blocks whose new
// content the batch holds are hashed on other goroutines meanwhile, so
// that hashing overlaps the writes.
func (run *applyRun) applyBatch(batch []delta.Record) (err error) {
	run.planHashes(batch)
	known := new(errgroup.Group)
	known.SetLimit(hashWorkers())
	run.hashKnown(known)
	defer func() {
		// The hashing goroutines read the batch: they end before it is
		// reused, whatever happened here.
		if werr := known.Wait(); err == nil {
			err = werr
		}
	}()
	for _, r := range batch {
		if err := run.write(r); err != nil {
			return err
		}
	}
	if err := known.Wait(); err != nil {
		return err
	}
	return run.rehash()
}

// saveChunk is how much undo saveOld buffers before it writes and syncs
// it (less when the apply batch is smaller).
const saveChunk = 8 << 20

// saveOld appends the current content of every block or page r will
// overwrite to the undo log, writing it out (not synced) as the buffer
// fills.
func (run *applyRun) saveOld(r delta.Record) error {
	g := run.g
	limit := min(g.s.opts.batchBytes, saveChunk)
	geo := g.geoms[r.Volume]
	for b := r.Block; b < r.Block+r.Count; b++ {
		off, blen := geo.BlockBounds(b)
		mask := normMask(r.Pages, geo.BlockPages(b))
		old := run.buf[:blen]
		if err := readFull(g.vols[r.Volume], old, off); err != nil {
			return err
		}
		run.uw.add(r.Volume, b, mask, pickPages(old, mask, geo.BlockPages(b)))
		run.changed[r.Volume].Add(b)
		if len(run.uw.buf) >= limit {
			e, err := run.uw.flush()
			if err != nil {
				return err
			}
			run.saved = append(run.saved, e...)
			// Syncing as the log grows, while the stream is still being
			// verified, leaves little for commitUndo's sync to wait for.
			// (An early sync is harmless: the log holds current content.)
			// The sync runs in the background while the next chunk is
			// read, one at a time; the saver waits for the last one.
			if err := run.undoSync.Wait(); err != nil {
				return err
			}
			run.undoSync.Go(run.uw.f.Sync)
		}
		if mask == nil {
			// The block's whole new content is known: hash it now, while
			// the stream is still being verified. An abort reloads the
			// committed hashes.
			switch {
			case r.Kind == delta.RecordZero:
				g.hashes[r.Volume].Set(b, run.zeroHash(blen))
				run.hashed[r.Volume].Add(b)
			case r.Kind == delta.RecordData && r.Data != nil:
				g.hashes[r.Volume].Set(b, delta.HashBlock(r.Data[:blen]))
				run.hashed[r.Volume].Add(b)
			}
		}
	}
	return nil
}

// zeroHash returns the hash of blen zero bytes, computed once per length.
func (run *applyRun) zeroHash(blen int) delta.Hash {
	if h, ok := run.zeroHashes[blen]; ok {
		return h
	}
	if run.zeroHashes == nil {
		run.zeroHashes = make(map[int]delta.Hash, 2)
	}
	h := delta.HashBlock(run.zero[:blen])
	run.zeroHashes[blen] = h
	return h
}

// commitUndo makes the undo log durable — its records, the file, its
// directory entry — and publishes its entries, before the first block is
// overwritten.
func (run *applyRun) commitUndo() error {
	g := run.g
	e, err := run.uw.flush()
	if err != nil {
		return err
	}
	run.saved = append(run.saved, e...)
	// The log's content and its directory entry are independent: sync
	// both at once; both are durable before the first block is written.
	var dir errgroup.Group
	dir.Go(func() error { return g.fsys.SyncDir(g.path(path.Dir(run.log.name))) })
	err = run.uw.f.Sync()
	if derr := dir.Wait(); err == nil {
		err = derr
	}
	if err != nil {
		return err
	}
	// Publishing under the exclusive lock is the barrier: a reader that
	// started before it finishes before it, a reader after it sees the
	// entries and reads these blocks from the undo log, not the live file.
	g.mu.Lock()
	for _, e := range run.saved {
		run.uw.ix.vols[e.vol][e.block] = e.e
		run.uw.ix.records++
	}
	g.mu.Unlock()
	run.saved = nil
	return nil
}

// planHashes lists the batch's blocks to rehash: none for the whole data
// and zero blocks saveOld hashed, else from the record's data or the zero
// block when the block's whole new content is known, else (pages, copies)
// read back from the volume after the writes.
func (run *applyRun) planHashes(batch []delta.Record) {
	g := run.g
	run.jobs = run.jobs[:0]
	for _, r := range batch {
		geo := g.geoms[r.Volume]
		for b := r.Block; b < r.Block+r.Count; b++ {
			off, blen := geo.BlockBounds(b)
			j := hashJob{vol: r.Volume, block: b, off: off, blen: blen}
			if run.hashed[r.Volume].Contains(b) {
				// Hashed while the stream was verified (saveOld).
				continue
			}
			if normMask(r.Pages, geo.BlockPages(b)) == nil {
				switch r.Kind {
				case delta.RecordData:
					j.data = r.Data[:blen]
				case delta.RecordZero:
					j.data = run.zero[:blen]
				}
			}
			run.jobs = append(run.jobs, j)
		}
	}
}

// hashKnown hashes the jobs whose content is in memory on eg.
func (run *applyRun) hashKnown(eg *errgroup.Group) {
	workers := hashWorkers()
	per := (len(run.jobs) + workers - 1) / workers
	for lo := 0; lo < len(run.jobs); lo += per {
		jobs := run.jobs[lo:min(lo+per, len(run.jobs))]
		eg.Go(func() error {
			for i := range jobs {
				if j := &jobs[i]; j.data != nil {
					j.h = delta.HashBlock(j.data)
					j.done = true
				}
			}
			return nil
		})
	}
}

// pickPages returns the pages of mask from a whole block's content,
// concatenated (the block itself for a nil mask). It may reuse block.
func pickPages(block []byte, mask delta.PageMask, pages int) []byte {
	if mask == nil {
		return block
	}
	out := make([]byte, 0, maskBytes(mask, len(block)))
	for first, count := range maskRuns(mask, pages) {
		lo, hi := runBytes(len(block), first, count)
		out = append(out, block[lo:hi]...)
	}
	return out
}

// write writes one record's new content.
func (run *applyRun) write(r delta.Record) error {
	g := run.g
	geo := g.geoms[r.Volume]
	vol := g.vols[r.Volume]
	for b := r.Block; b < r.Block+r.Count; b++ {
		off, blen := geo.BlockBounds(b)
		pages := geo.BlockPages(b)
		mask := normMask(r.Pages, pages)
		switch r.Kind {
		case delta.RecordData:
			for first, count := range maskRuns(mask, pages) {
				lo, hi := runBytes(blen, first, count)
				at := maskRank(mask, first) * delta.PageSize
				if _, err := vol.WriteAt(r.Data[at:at+hi-lo], off+int64(lo)); err != nil {
					return err
				}
			}
		case delta.RecordZero:
			for first, count := range maskRuns(mask, pages) {
				lo, hi := runBytes(blen, first, count)
				if _, err := vol.WriteAt(run.zero[:hi-lo], off+int64(lo)); err != nil {
					return err
				}
			}
		case delta.RecordCopy:
			sgeo := g.geoms[r.FromVolume]
			soff, slen := sgeo.BlockBounds(r.FromBlock)
			if slen != blen {
				return fmt.Errorf("%w: copy of a %d-byte block into a %d-byte block", delta.ErrCorrupt, slen, blen)
			}
			src := run.buf[:blen]
			if err := readFull(g.vols[r.FromVolume], src, soff); err != nil {
				return err
			}
			if _, err := vol.WriteAt(src, off); err != nil {
				return err
			}
		default:
			return fmt.Errorf("%w: record kind %v", delta.ErrCorrupt, r.Kind)
		}
	}
	return nil
}

// hashJob is one block of a batch to rehash: from data when the batch holds
// the block's new content, else read back from the volume after the
// batch's writes.
type hashJob struct {
	vol   int
	block int64
	off   int64
	blen  int
	data  []byte
	h     delta.Hash
	done  bool
}

// rehash hashes the batch's blocks not hashed yet, reading them back in
// parallel, and updates the live hash lists.
func (run *applyRun) rehash() error {
	g := run.g
	eg := new(errgroup.Group)
	workers := hashWorkers()
	eg.SetLimit(workers)
	per := (len(run.jobs) + workers - 1) / workers
	for lo := 0; lo < len(run.jobs); lo += per {
		jobs := run.jobs[lo:min(lo+per, len(run.jobs))]
		eg.Go(func() error {
			var buf []byte
			for i := range jobs {
				j := &jobs[i]
				if j.done {
					continue
				}
				data := j.data
				if data == nil {
					if buf == nil {
						buf = make([]byte, g.man.Spec.BlockSize)
					}
					data = buf[:j.blen]
					if err := readFull(g.vols[j.vol], data, j.off); err != nil {
						return err
					}
				}
				j.h = delta.HashBlock(data)
			}
			return nil
		})
	}
	if err := eg.Wait(); err != nil {
		return err
	}
	for _, j := range run.jobs {
		g.hashes[j.vol].Set(j.block, j.h)
	}
	return nil
}

// hashWorkers is how many goroutines hash a batch's blocks.
func hashWorkers() int { return max(1, min(runtime.GOMAXPROCS(0), 8)) }

// stageArena bounds the block data a batch copies out of the staging file
// (the records in memory are not copied): the two arenas are fresh memory
// on a cold store, and a larger one reads no faster.
const stageArena = 4 << 20

// backgroundSync runs a sync in the background, one at a time, for a
// writer that calls kick after each of its writes: a sync starts right
// away when none runs, else the next kick after it ends starts one.
type backgroundSync struct {
	done    chan error // the running sync's result
	running bool
	dirty   bool // written since the running sync started (or ever, if none runs)
}

// kick records a write and starts fn when no sync runs, returning the
// error of the sync that ended.
func (s *backgroundSync) kick(fn func() error) error {
	s.dirty = true
	if s.running {
		select {
		case err := <-s.done:
			s.running = false
			if err != nil {
				return err
			}
		default:
			return nil
		}
	}
	s.start(fn)
	return nil
}

// kickAfter makes sure that a sync that started after the last write
// runs: it waits for a running sync that does not cover the last write
// and starts another. wait returns its result.
func (s *backgroundSync) kickAfter(fn func() error) error {
	if !s.dirty {
		return nil
	}
	if err := s.wait(); err != nil {
		return err
	}
	s.start(fn)
	return nil
}

func (s *backgroundSync) start(fn func() error) {
	if s.done == nil {
		s.done = make(chan error, 1)
	}
	s.running, s.dirty = true, false
	go func() { s.done <- fn() }()
}

// wait waits for the running sync, if any, and returns its error.
func (s *backgroundSync) wait() error {
	if !s.running {
		return nil
	}
	s.running = false
	return <-s.done
}
