package delta

import (
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"sync"
)

var errInjected = errors.New("test: injected state file failure")

// crashFile is an in-memory StateFile that counts its writes, truncates and
// syncs and can fail at the N-th one: either that operation alone
// (failOnly) or, as a crash, that one and every later one. crashImage then
// returns what a disk could hold after the crash: everything synced, plus
// any subset of the unsynced operations, a write possibly torn.
type crashFile struct {
	mu       sync.Mutex
	durable  []byte
	cur      []byte
	pending  []crashOp
	ops      int
	syncs    int // successful syncs
	failAt   int // operation index that fails; -1 never
	failOnly bool
	crashed  bool
	closed   bool
}

type crashOp struct {
	truncate bool
	off      int64
	data     []byte
}

func newCrashFile(content []byte) *crashFile {
	return &crashFile{durable: append([]byte(nil), content...), cur: append([]byte(nil), content...), failAt: -1}
}

// op counts one operation and says whether it must fail.
func (f *crashFile) op() error {
	if f.closed {
		return errors.New("crashFile: closed")
	}
	if f.crashed {
		return errInjected
	}
	i := f.ops
	f.ops++
	if i == f.failAt {
		if !f.failOnly {
			f.crashed = true
		}
		return fmt.Errorf("%w at operation %d", errInjected, i)
	}
	return nil
}

func (f *crashFile) ReadAt(p []byte, off int64) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if off < 0 {
		return 0, errors.New("crashFile: negative offset")
	}
	if off >= int64(len(f.cur)) {
		return 0, io.EOF
	}
	n := copy(p, f.cur[off:])
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

func (f *crashFile) WriteAt(p []byte, off int64) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.op(); err != nil {
		return 0, err
	}
	f.cur = writeInto(f.cur, p, off)
	f.pending = append(f.pending, crashOp{off: off, data: append([]byte(nil), p...)})
	return len(p), nil
}

func writeInto(b, p []byte, off int64) []byte {
	if end := off + int64(len(p)); end > int64(len(b)) {
		b = append(b, make([]byte, end-int64(len(b)))...)
	}
	copy(b[off:], p)
	return b
}

func truncateTo(b []byte, size int64) []byte {
	if size <= int64(len(b)) {
		return b[:size]
	}
	return append(b, make([]byte, size-int64(len(b)))...)
}

func (f *crashFile) Truncate(size int64) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.op(); err != nil {
		return err
	}
	f.cur = truncateTo(f.cur, size)
	f.pending = append(f.pending, crashOp{truncate: true, off: size})
	return nil
}

func (f *crashFile) Sync() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.op(); err != nil {
		return err
	}
	f.durable = append(f.durable[:0], f.cur...)
	f.pending = f.pending[:0]
	f.syncs++
	return nil
}

func (f *crashFile) Size() (int64, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return int64(len(f.cur)), nil
}

func (f *crashFile) Close() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.closed = true
	return nil
}

// operations returns how many counted operations ran (failed ones included).
func (f *crashFile) operations() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.ops
}

// crashImage returns a possible disk content after a crash now: the synced
// content with a random subset of the later operations applied in order,
// each applied write possibly torn (only a prefix lands).
func (f *crashFile) crashImage(rng *rand.Rand) []byte {
	f.mu.Lock()
	defer f.mu.Unlock()
	img := append([]byte(nil), f.durable...)
	for _, op := range f.pending {
		if rng.IntN(2) == 0 {
			continue
		}
		if op.truncate {
			img = truncateTo(img, op.off)
			continue
		}
		data := op.data
		if rng.IntN(4) == 0 {
			data = data[:rng.IntN(len(data)+1)]
		}
		img = writeInto(img, data, op.off)
	}
	return img
}

// content returns the current (unsynced included) content.
func (f *crashFile) content() []byte {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]byte(nil), f.cur...)
}

// syncCount returns how many syncs succeeded.
func (f *crashFile) syncCount() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.syncs
}

// synced returns the synced content.
func (f *crashFile) synced() []byte {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]byte(nil), f.durable...)
}
