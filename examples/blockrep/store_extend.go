package main

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/blockrep/blockrep/replica"
)

// extendFile records the store's extended hops, so that serve starts them
// again after a restart. It sits beside the store's own layout (groups/).
const extendFile = "blockrep-extend.json"

// extendRecord is one extended hop.
type extendRecord = hopRecord

func loadExtends(dir string) ([]extendRecord, error) { return loadHops(dir, extendFile) }

func saveExtends(dir string, recs []extendRecord) error { return saveHops(dir, extendFile, recs) }

// extendResult is what an extend request did.
type extendResult struct {
	Group   string `json:"group"`
	To      string `json:"to,omitempty"`
	Every   string `json:"every,omitempty"`
	Started bool   `json:"started"` // forwarding runs now (serve is running)
	Stopped bool   `json:"stopped,omitempty"`
}

// extend starts (or with Stop ends) the extended replication of a group
// and records it. Without a running serve it only records it: the next
// serve starts it.
func (h *storeHost) extend(ctx context.Context, req controlRequest) (extendResult, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	res := extendResult{Group: req.Group}
	if _, err := h.store.Group(ctx, req.Group); err != nil {
		return res, err
	}
	recs, err := loadExtends(h.dir)
	if err != nil {
		return res, err
	}
	i := slices.IndexFunc(recs, func(r extendRecord) bool { return r.Group == req.Group })
	if req.Stop {
		if i < 0 {
			return res, fmt.Errorf("group %s is not extended", req.Group)
		}
		if h.served {
			if err := h.rh.StopExtend(ctx, req.Group); err != nil && !errors.Is(err, replica.ErrNotExtended) && !errors.Is(err, replica.ErrUnknownGroup) {
				return res, err
			}
		}
		res.Stopped = true
		return res, saveExtends(h.dir, slices.Delete(recs, i, i+1))
	}
	if i >= 0 {
		return res, fmt.Errorf("group %s is extended to %s already (extend --stop first)", req.Group, recs[i].To)
	}
	rec := extendRecord{Group: req.Group, To: req.To, Every: req.Every}
	if h.served {
		if err := h.startExtend(ctx, rec); err != nil {
			return res, err
		}
		res.Started = true
	}
	res.To, res.Every = rec.To, time.Duration(rec.Every).String()
	return res, saveExtends(h.dir, append(recs, rec))
}

func (h *storeHost) startExtend(ctx context.Context, rec extendRecord) error {
	return h.rh.Extend(ctx, rec.Group, replica.ExtendConfig{Replica: rec.To, Frequency: time.Duration(rec.Every)})
}

// startExtends starts every recorded hop (serve, at start).
func (h *storeHost) startExtends(ctx context.Context) error {
	recs, err := loadExtends(h.dir)
	if err != nil {
		return err
	}
	for _, r := range recs {
		if err := h.startExtend(ctx, r); err != nil {
			return fmt.Errorf("extended replication of %s to %s: %w", r.Group, r.To, err)
		}
	}
	return nil
}
