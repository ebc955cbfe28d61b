package replica

import (
	"fmt"
	"sync"

	"github.com/blockrep/blockrep/checkpoint"
	"github.com/blockrep/blockrep/delta"
)

// failoverImage is the writable image of a point a failover or a test
// failover hands out: a checkpoint clone of the point (a copy-on-write
// overlay, so the point itself never changes) behind volumes that record
// which blocks were written and that stop working once the image ends.
type failoverImage struct {
	group    string
	clone    checkpoint.Clone
	point    checkpoint.Point
	meta     []byte
	settings []byte
	vols     []checkpoint.VolumeReadWriter

	// io is held shared by every read and write, and exclusively to end
	// the image (or to freeze it while CompleteFailover copies it).
	io     sync.RWMutex
	sealed bool

	mu      sync.Mutex // guards written
	written []*delta.Set
}

func newFailoverImage(group string, c checkpoint.Clone, spec checkpoint.GroupSpec) *failoverImage {
	im := &failoverImage{group: group, clone: c, point: c.Point()}
	if meta, settings, err := decodeGroupRecord(spec.Meta); err == nil {
		im.meta, im.settings = meta, settings
	} else {
		im.meta = append([]byte(nil), spec.Meta...) // a group created by other means
	}
	for i, g := range spec.Geometries() {
		im.written = append(im.written, delta.NewSet(g.Blocks()))
		im.vols = append(im.vols, &failoverVolume{im: im, v: c.Volumes()[i], geo: g, vol: i})
	}
	return im
}

// seal waits for the reads and writes in flight and refuses later ones.
func (im *failoverImage) seal() {
	im.io.Lock()
	im.sealed = true
	im.io.Unlock()
}

// unseal admits reads and writes again (a CompleteFailover that failed).
func (im *failoverImage) unseal() {
	im.io.Lock()
	im.sealed = false
	im.io.Unlock()
}

// writtenBlocks returns a copy of the blocks written to each volume.
func (im *failoverImage) writtenBlocks() []*delta.Set {
	im.mu.Lock()
	defer im.mu.Unlock()
	out := make([]*delta.Set, len(im.written))
	for i, s := range im.written {
		out[i] = s.Clone()
	}
	return out
}

// failoverVolume is one volume of a failoverImage.
type failoverVolume struct {
	im  *failoverImage
	v   checkpoint.VolumeReadWriter
	geo delta.Geometry
	vol int
}

func (fv *failoverVolume) Size() int64 { return fv.v.Size() }
func (fv *failoverVolume) ID() string  { return fv.v.ID() }

// ReadAt reads the image: the point, with the writes made since over it.
func (fv *failoverVolume) ReadAt(p []byte, off int64) (int, error) {
	fv.im.io.RLock()
	defer fv.im.io.RUnlock()
	if fv.im.sealed {
		return 0, ErrFailoverEnded
	}
	return fv.v.ReadAt(p, off)
}

// WriteAt writes to the image's overlay, never to the point.
func (fv *failoverVolume) WriteAt(p []byte, off int64) (int, error) {
	fv.im.io.RLock()
	defer fv.im.io.RUnlock()
	if fv.im.sealed {
		return 0, ErrFailoverEnded
	}
	if len(p) == 0 {
		return 0, nil
	}
	first, last, ok := fv.geo.Span(off, int64(len(p)))
	if !ok {
		return 0, fmt.Errorf("replica: write of %d bytes at %d outside volume %q of %d bytes", len(p), off, fv.v.ID(), fv.geo.Size)
	}
	// Recorded before the write: a block recorded but left unchanged by a
	// failed write is only copied for nothing by CompleteFailover.
	fv.im.mu.Lock()
	fv.im.written[fv.vol].AddRange(first, last-first+1)
	fv.im.mu.Unlock()
	return fv.v.WriteAt(p, off)
}
