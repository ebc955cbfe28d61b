package checkpoint

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync/atomic"

	"github.com/blockrep/blockrep/delta"
)

// pointView is the View of a DirStore group.
//
// Reading point i: for each page, the first undo log at or after point i
// that saved the page holds its content at point i (the first write after
// the point saved it, and no earlier log saw it change); a page no log
// saved has not changed since point i and is read from the live volume.
// The log of an apply in progress counts as the newest log, so views stay
// exact while the live volume changes under them.
type pointView struct {
	g      *dirGroup
	pt     Point
	vols   []VolumeReader
	closed atomic.Bool
}

type volumeView struct {
	v    *pointView
	vol  int
	size int64
	id   string
}

// OpenPoint implements Group.
func (g *dirGroup) OpenPoint(ctx context.Context, id delta.PointID) (View, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.openViewLocked(id)
}

func (g *dirGroup) openViewLocked(id delta.PointID) (*pointView, error) {
	if err := g.usableLocked(); err != nil {
		return nil, err
	}
	i := g.man.index(id)
	if i < 0 {
		return nil, fmt.Errorf("%w: %s", ErrUnknownPoint, id)
	}
	g.refs[id]++
	v := &pointView{g: g, pt: g.man.Points[i].Point}
	for n, vi := range g.man.Spec.Volumes {
		v.vols = append(v.vols, &volumeView{v: v, vol: n, size: vi.Size, id: vi.ID})
	}
	return v, nil
}

func (v *pointView) Point() Point            { return v.pt }
func (v *pointView) Volumes() []VolumeReader { return v.vols }

// Close implements View.
func (v *pointView) Close() error {
	if v.closed.Swap(true) {
		return nil
	}
	g := v.g
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.refs[v.pt.ID]--; g.refs[v.pt.ID] <= 0 {
		delete(g.refs, v.pt.ID)
	}
	return nil
}

func (vv *volumeView) Size() int64 { return vv.size }
func (vv *volumeView) ID() string  { return vv.id }

// ReadAt implements io.ReaderAt.
func (vv *volumeView) ReadAt(p []byte, off int64) (int, error) {
	if vv.v.closed.Load() {
		return 0, ErrClosed
	}
	if off < 0 {
		return 0, fmt.Errorf("checkpoint: read at negative offset %d", off)
	}
	if off >= vv.size {
		return 0, io.EOF
	}
	n := len(p)
	if rest := vv.size - off; int64(n) > rest {
		n = int(rest)
	}
	// A point's content never changes, so a long read may take the lock
	// piece by piece and leave room for an apply between pieces.
	for done := 0; done < n; {
		k := min(n-done, maxReadPiece)
		if err := vv.v.g.readPoint(vv.v.pt.ID, vv.vol, p[done:done+k], off+int64(done)); err != nil {
			return done, err
		}
		done += k
	}
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

// maxReadPiece bounds how much one ReadAt of a view reads under one hold
// of the group's read lock.
const maxReadPiece = 8 << 20

// readPoint fills dst with volume vol of point id from off.
func (g *dirGroup) readPoint(id delta.PointID, vol int, dst []byte, off int64) error {
	g.mu.RLock()
	defer g.mu.RUnlock()
	if err := g.usableLocked(); err != nil {
		return err
	}
	i := g.man.index(id)
	if i < 0 {
		return fmt.Errorf("%w: %s", ErrUnknownPoint, id)
	}
	chain, err := g.chain(i)
	if err != nil {
		return err
	}
	return g.readChain(chain, vol, dst, off)
}

// readChain reads dst at off of volume vol through chain; callers hold mu.
func (g *dirGroup) readChain(chain []*undoLog, vol int, dst []byte, off int64) error {
	live := g.vols[vol]
	if len(chain) == 0 {
		return readFull(live, dst, off)
	}
	geo := g.geoms[vol]
	bs := int64(geo.BlockSize)
	ents := make([]undoEntry, len(chain))
	has := make([]bool, len(chain))
	runStart, runLen := 0, 0 // pending range of dst read from the live volume
	for pos := 0; pos < len(dst); {
		abs := off + int64(pos)
		b := abs / bs
		boff, blen := geo.BlockBounds(b)
		lo := int(abs - boff)
		hi := min(blen, lo+len(dst)-pos)
		covered := false
		for j, l := range chain {
			ents[j], has[j] = l.ix.get(vol, b)
			covered = covered || has[j]
		}
		if !covered {
			if runLen == 0 {
				runStart = pos
			}
			runLen += hi - lo
			pos += hi - lo
			continue
		}
		if runLen > 0 {
			if err := readFull(live, dst[runStart:runStart+runLen], off+int64(runStart)); err != nil {
				return err
			}
			runLen = 0
		}
		if err := g.readOverlayBlock(chain, ents, has, vol, boff, blen, lo, hi, dst[pos:pos+hi-lo]); err != nil {
			return err
		}
		pos += hi - lo
	}
	if runLen > 0 {
		return readFull(live, dst[runStart:runStart+runLen], off+int64(runStart))
	}
	return nil
}

// readOverlayBlock fills dst with bytes [lo, hi) of one block (at boff,
// blen bytes long), page by page from the first log that saved the page,
// merging neighbouring pages that come from contiguous bytes of one source.
func (g *dirGroup) readOverlayBlock(chain []*undoLog, ents []undoEntry, has []bool, vol int, boff int64, blen, lo, hi int, dst []byte) error {
	// The common case: the first log that saved the block saved all of it.
	for j := range chain {
		if has[j] {
			if ents[j].mask == nil {
				return readFull(chain[j].f, dst, ents[j].off+int64(lo))
			}
			break
		}
	}
	type run struct {
		src     int // index in chain, -1 for the live volume
		fileOff int64
		dstOff  int
		n       int
	}
	var cur run
	flush := func() error {
		if cur.n == 0 {
			return nil
		}
		r := io.ReaderAt(g.vols[vol])
		if cur.src >= 0 {
			r = chain[cur.src].f
		}
		err := readFull(r, dst[cur.dstOff:cur.dstOff+cur.n], cur.fileOff)
		cur.n = 0
		return err
	}
	for p := lo / delta.PageSize; p*delta.PageSize < hi; p++ {
		pLo, pHi := pageSpan(blen, p)
		a, z := max(lo, pLo), min(hi, pHi)
		src, fileOff := -1, boff+int64(a)
		for j := range chain {
			if has[j] && ents[j].mask.Has(p) {
				src = j
				fileOff = ents[j].off + int64(maskRank(ents[j].mask, p)*delta.PageSize+a-pLo)
				break
			}
		}
		if cur.n > 0 && cur.src == src && cur.fileOff+int64(cur.n) == fileOff {
			cur.n += z - a
			continue
		}
		if err := flush(); err != nil {
			return err
		}
		cur = run{src: src, fileOff: fileOff, dstOff: a - lo, n: z - a}
	}
	return flush()
}

// readFull reads len(p) bytes at off, treating a short read as an error.
func readFull(r io.ReaderAt, p []byte, off int64) error {
	n, err := r.ReadAt(p, off)
	if n == len(p) {
		return nil
	}
	if err == nil || errors.Is(err, io.EOF) {
		err = io.ErrUnexpectedEOF
	}
	return err
}

var ioEOF = io.EOF

// clampRange checks a read of n bytes at off in a volume of size bytes and
// returns how many bytes lie inside it.
func clampRange(n int, off, size int64) (int, error) {
	if off < 0 {
		return 0, fmt.Errorf("checkpoint: read at negative offset %d", off)
	}
	if off >= size {
		if n == 0 {
			return 0, nil
		}
		return 0, io.EOF
	}
	return int(min(int64(n), size-off)), nil
}
