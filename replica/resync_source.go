package replica

import (
	"fmt"
	"sync"

	"github.com/blockrep/blockrep/delta"
)

// resyncSource is the Source a resynchronization encodes: the blocks and
// pages of its Frozen — the pages the page-digest comparison found
// different (resync_pages.go) and those written meanwhile — read as of the
// freeze. It records the hash of every
// block it hands out, so that the primary knows the content hash its image
// at the freeze must have on the replica.
type resyncSource struct {
	frozen *delta.Frozen

	mu    sync.Mutex
	lists []*delta.HashList // the hash pass's lists; read blocks' hashes replace theirs
	read  []*delta.Set      // per volume, the blocks read
}

func newResyncSource(f *delta.Frozen, lists []*delta.HashList) *resyncSource {
	s := &resyncSource{frozen: f, lists: lists, read: make([]*delta.Set, len(lists))}
	for i, l := range lists {
		s.read[i] = delta.NewSet(l.Len())
	}
	return s
}

func (s *resyncSource) Geometries() []delta.Geometry { return s.frozen.Geometries() }

func (s *resyncSource) Blocks(vol int) *delta.Set { return s.frozen.Blocks(vol) }

func (s *resyncSource) Pages(vol int, block int64, dst delta.PageMask) delta.PageMask {
	return s.frozen.Pages(vol, block, dst)
}

func (s *resyncSource) ReadBlock(vol int, block int64, p []byte) error {
	if err := s.frozen.ReadBlock(vol, block, p); err != nil {
		return err
	}
	h := delta.HashBlock(p)
	s.mu.Lock()
	s.lists[vol].Set(block, h)
	s.read[vol].Add(block)
	s.mu.Unlock()
	return nil
}

// groupRoot returns the content hash of the image at the freeze: the hash
// pass's block hashes with those of the frozen blocks, as read, in their
// place. A frozen block the encoder did not read is an error.
func (s *resyncSource) groupRoot() (delta.Hash, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for vol := range s.lists {
		if !s.read[vol].Equal(s.frozen.Blocks(vol)) {
			return delta.Hash{}, fmt.Errorf("%w: the encoder did not read every frozen block of volume %d", ErrResyncMismatch, vol)
		}
	}
	return delta.GroupRoot(s.lists), nil
}
