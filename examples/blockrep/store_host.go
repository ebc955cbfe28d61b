package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/blockrep/blockrep/checkpoint"
	"github.com/blockrep/blockrep/delta"
	"github.com/blockrep/blockrep/replica"
)

// storeHost carries out the store commands (points, export, status,
// failover) on an open store: inside "blockrep serve" for requests from
// the control socket, or in the command's own process when no serve runs
// (then holding the store's lock). Failovers go through a running serve,
// the one process that may change a served store.
type storeHost struct {
	dir    string
	store  checkpoint.Store
	rh     *replica.ReplicaHost
	ph     *replica.PrimaryHost // serve's host of reversed groups; nil when not served
	served bool

	// mu serializes the requests that change the store's groups or the
	// records beside it (failovers, extend, reverse).
	mu sync.Mutex
}

func newStoreHost(dir string, store checkpoint.Store, rh *replica.ReplicaHost, served bool) *storeHost {
	return &storeHost{dir: dir, store: store, rh: rh, served: served}
}

// errNeedServe refuses a failover without a running serve.
var errNeedServe = errors.New("failover needs the store's blockrep serve running")

// do carries out one request.
func (h *storeHost) do(ctx context.Context, req controlRequest) (any, error) {
	switch req.Op {
	case "points":
		return h.points(ctx, req.Group)
	case "export":
		return h.export(ctx, req.Group, req.Point, req.Out)
	case "status":
		return h.status(ctx, req.Group)
	case "extend":
		return h.extend(ctx, req)
	case "import":
		return h.importMedia(ctx, req.From)
	case "seed":
		return h.seed(ctx, req.Group, req.Volumes)
	case "reverse", "sync", "planned":
		if !h.served {
			return nil, fmt.Errorf("%s needs the store's blockrep serve running", req.Op)
		}
		switch req.Op {
		case "reverse":
			return h.reverse(ctx, req.Group, req.To, time.Duration(req.Every))
		case "sync":
			return h.syncReversed(ctx, req.Group)
		}
		return h.planned(ctx, req.Group, req.To)
	case "failover", "complete", "cancel", "stop-test":
		if !h.served {
			return nil, errNeedServe
		}
		return h.failover(ctx, req)
	}
	return nil, fmt.Errorf("unknown request %q", req.Op)
}

// pointJSON is one recovery point in "blockrep points --json".
type pointJSON struct {
	ID     string    `json:"id"`
	Time   time.Time `json:"time"`
	Kind   string    `json:"kind"` // crash or app
	Bytes  int64     `json:"bytes"`
	Blocks int64     `json:"blocks"`
}

func pointOf(p checkpoint.Point) pointJSON {
	kind := "crash"
	if p.Consistency == delta.ConsistencyApp {
		kind = "app"
	}
	return pointJSON{ID: p.ID.String(), Time: p.Time.UTC(), Kind: kind, Bytes: p.Size, Blocks: p.ChangedBlocks()}
}

func (h *storeHost) points(ctx context.Context, group string) ([]pointJSON, error) {
	g, err := h.store.Group(ctx, group)
	if err != nil {
		return nil, err
	}
	pts, err := g.Points(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]pointJSON, 0, len(pts))
	for _, p := range pts {
		out = append(out, pointOf(p))
	}
	return out, nil
}

// choosePoint resolves a --point value against a chain (oldest first).
func choosePoint(pts []checkpoint.Point, sel string) (checkpoint.Point, error) {
	if len(pts) == 0 {
		return checkpoint.Point{}, replica.ErrNoRecoveryPoint
	}
	switch sel {
	case "", "latest":
		return pts[len(pts)-1], nil
	case "latest-app":
		for i := len(pts) - 1; i >= 0; i-- {
			if pts[i].Consistency == delta.ConsistencyApp {
				return pts[i], nil
			}
		}
		return checkpoint.Point{}, fmt.Errorf("%w: no app-consistent point", replica.ErrNoRecoveryPoint)
	}
	id, err := delta.ParsePointID(sel)
	if err != nil {
		return checkpoint.Point{}, usagef("--point %q: want an id, latest or latest-app", sel)
	}
	for _, p := range pts {
		if p.ID == id {
			return p, nil
		}
	}
	return checkpoint.Point{}, fmt.Errorf("%w: %s", replica.ErrNoRecoveryPoint, sel)
}

// selector turns a --point value into the failover's PointSelector.
func selector(sel string) (replica.PointSelector, error) {
	switch sel {
	case "", "latest":
		return replica.SelectLatest, nil
	case "latest-app":
		return replica.SelectLatestAppConsistent, nil
	}
	id, err := delta.ParsePointID(sel)
	if err != nil {
		return replica.PointSelector{}, usagef("--point %q: want an id, latest or latest-app", sel)
	}
	return replica.SelectPoint(id), nil
}

// exportResult lists the files an export or failover wrote.
type exportResult struct {
	Group string   `json:"group"`
	Point string   `json:"point"`
	Files []string `json:"files"`
}

func (h *storeHost) export(ctx context.Context, group, sel, out string) (exportResult, error) {
	g, err := h.store.Group(ctx, group)
	if err != nil {
		return exportResult{}, err
	}
	pts, err := g.Points(ctx)
	if err != nil {
		return exportResult{}, err
	}
	p, err := choosePoint(pts, sel)
	if err != nil {
		return exportResult{}, err
	}
	spec := g.Spec()
	files, err := createImages(out, spec.Volumes)
	if err != nil {
		return exportResult{}, err
	}
	dst := make([]io.WriterAt, len(files))
	for i, f := range files {
		dst[i] = f
	}
	err = g.Export(ctx, p.ID, dst, checkpoint.ExportSparse())
	names, cerr := closeImages(files, err == nil)
	if err = errors.Join(err, cerr); err != nil {
		return exportResult{}, err
	}
	return exportResult{Group: group, Point: p.ID.String(), Files: names}, nil
}
