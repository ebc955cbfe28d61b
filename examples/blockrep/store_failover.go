package main

import (
	"context"
	"fmt"
)

// failoverResult is what a failover request did.
type failoverResult struct {
	Group string   `json:"group"`
	State string   `json:"state"`
	Point string   `json:"point,omitempty"`
	Files []string `json:"files,omitempty"`
}

// failover starts, completes, cancels or stops a failover. The replica
// host keeps the failover (durably: it survives a restart of serve) until
// it ends.
func (h *storeHost) failover(ctx context.Context, req controlRequest) (failoverResult, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	res := failoverResult{Group: req.Group}
	switch req.Op {
	case "failover":
		sel, err := selector(req.Point)
		if err != nil {
			return res, err
		}
		if req.Test {
			tf, err := h.rh.StartTestFailover(ctx, req.Group, sel)
			if err != nil {
				return res, err
			}
			res.Point = tf.Point().ID.String()
			if req.Out != "" {
				if res.Files, err = copyVolumes(ctx, req.Out, tf.Volumes()); err != nil {
					return res, fmt.Errorf("test failover running on %s, writing its volumes: %w", res.Point, err)
				}
			}
		} else {
			f, err := h.rh.Failover(ctx, req.Group, sel)
			if err != nil {
				return res, err
			}
			res.Point = f.Point().ID.String()
			if req.Out != "" {
				if res.Files, err = copyVolumes(ctx, req.Out, f.Volumes()); err != nil {
					return res, fmt.Errorf("failed over to %s, writing its volumes: %w", res.Point, err)
				}
			}
		}
	case "complete":
		if err := h.rh.CompleteFailover(ctx, req.Group); err != nil {
			return res, err
		}
	case "cancel":
		if err := h.rh.CancelFailover(ctx, req.Group); err != nil {
			return res, err
		}
	case "stop-test":
		if err := h.rh.StopTestFailover(ctx, req.Group); err != nil {
			return res, err
		}
	}
	g, err := h.rh.Group(ctx, req.Group)
	if err != nil {
		return res, err
	}
	res.State = g.State.String()
	return res, nil
}
