package main

import (
	"fmt"
	"sync"

	"github.com/blockrep/blockrep/delta"
)

// image is what the program knows of a group's content: the BLAKE3 hash of
// every block of every volume, as delta.HashVolume computes them. Its root is
// the content hash a checkpoint store records for a point (delta.GroupRoot).
type image []*delta.HashList

func (im image) root() delta.Hash { return delta.GroupRoot(im) }

func (im image) clone() image {
	c := make(image, len(im))
	for i, l := range im {
		c[i] = l.Clone()
	}
	return c
}

// write is one block the writer wrote: which, and the hash of its content.
type write struct {
	vol   int
	block int64
	hash  delta.Hash
}

// model is the primary's image as the program expects it, kept apart from
// everything the library does: the hashes of the volumes as made, then every
// block the writer wrote, in order. A cycle's freeze happens somewhere in the
// writer's sequence, so the recovery point it makes must equal the image after
// some prefix of the writes not yet accounted for; match finds that prefix and
// remembers the image, so later steps (a test failover on an older point, a
// failover) know what the point must hold without asking the library.
type model struct {
	mu      sync.Mutex
	cur     image                   // the image at the last matched point
	pending []write                 // writes after it, in order
	points  map[delta.PointID]image // the image each matched point holds
	total   int64                   // writes recorded in all
}

func newModel(start image) *model {
	return &model{cur: start, points: make(map[delta.PointID]image)}
}

// lock and unlock bracket a write: the writer holds the model's lock from
// before its WriteAt until record, so a write that returned is always in the
// journal by the time a cycle that froze after it is matched.
func (m *model) lock()   { m.mu.Lock() }
func (m *model) unlock() { m.mu.Unlock() }

// record appends a write; the caller holds the lock.
func (m *model) record(w write) {
	m.pending = append(m.pending, w)
	m.total++
}

// writes returns how many writes were recorded in all.
func (m *model) writes() int64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.total
}

// matchResult says which prefix of the pending writes a point holds.
type matchResult struct {
	Writes int // writes of the pending journal the point holds
	Left   int // writes made after the freeze, carried to the next point
	// Touched is how many distinct blocks all the pending writes touched,
	// those made after the freeze too: a cycle cannot have sent more.
	// (Which of them preceded the freeze is not exactly known: a write that
	// did not change a block — zeros over zeros — leaves the image, and so
	// the prefix, ambiguous; match takes the shortest.)
	Touched int64
}

// match finds the shortest prefix of the pending writes after which the
// image's root is want, records that image as point id's, and makes it the
// new base. It returns an error, changing nothing, when no prefix matches:
// the point is not the primary's image at any instant since the last one.
func (m *model) match(id delta.PointID, want delta.Hash) (matchResult, error) {
	m.mu.Lock()
	pend := m.pending[:len(m.pending):len(m.pending)]
	work := m.cur.clone()
	m.mu.Unlock()

	k := -1
	if work.root() == want {
		k = 0
	}
	for i := 0; k < 0 && i < len(pend); i++ {
		work[pend[i].vol].Set(pend[i].block, pend[i].hash)
		if work.root() == want {
			k = i + 1
		}
	}
	if k < 0 {
		return matchResult{}, fmt.Errorf("point %s (content %s) is not the primary's image after any of the %d writes since the last point",
			shortID(id), shortHash(want), len(pend))
	}
	type key struct {
		vol   int
		block int64
	}
	touched := make(map[key]struct{})
	for _, w := range pend {
		touched[key{w.vol, w.block}] = struct{}{}
	}

	m.mu.Lock()
	defer m.mu.Unlock()
	m.cur = work
	m.pending = append([]write(nil), m.pending[k:]...)
	m.points[id] = work.clone()
	return matchResult{Writes: k, Left: len(m.pending), Touched: int64(len(touched))}, nil
}

// point returns the image recorded for point id.
func (m *model) point(id delta.PointID) (image, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	im, ok := m.points[id]
	if !ok {
		return nil, false
	}
	return im.clone(), true
}

// current returns the image after every write recorded so far.
func (m *model) current() image {
	m.mu.Lock()
	defer m.mu.Unlock()
	im := m.cur.clone()
	for _, w := range m.pending {
		im[w.vol].Set(w.block, w.hash)
	}
	return im
}

// rebase makes im the image the next writes start from, dropping the
// pending writes: after an unplanned failover, what the lost primary wrote
// since the chosen point is gone by design.
func (m *model) rebase(im image) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.cur = im.clone()
	m.pending = nil
}

// remember records im as point id's image (a point made outside a cycle,
// such as the one a completed failover commits).
func (m *model) remember(id delta.PointID, im image) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.points[id] = im.clone()
}

// pendingWrites is how many writes were made since the last matched point.
func (m *model) pendingWrites() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.pending)
}
