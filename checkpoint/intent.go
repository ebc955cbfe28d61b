package checkpoint

import (
	"encoding/json"
	"fmt"

	"github.com/blockrep/blockrep/delta"
)

// intentName is written (atomically, durably) before an apply or rollback
// changes a live volume and removed after its manifest commit. On open, an
// intent whose operation did not commit is rolled back (apply) or finished
// (rollback).
const intentName = "intent.json"

const maxIntentSize = 64 << 10

const (
	opApply    = "apply"
	opRollback = "rollback"
)

type intent struct {
	Op     string        `json:"op"`
	Base   delta.PointID `json:"base"`             // apply: the latest point when it started
	New    delta.PointID `json:"new"`              // apply: the point being added
	Undo   string        `json:"undo,omitempty"`   // apply: its undo log
	Hashes string        `json:"hashes,omitempty"` // apply: its hash file
	Target delta.PointID `json:"target"`           // rollback: the point to return to
}

func decodeIntent(b []byte, next uint64) (*intent, error) {
	if len(b) > maxIntentSize {
		return nil, fmt.Errorf("%d bytes exceeds limit %d", len(b), maxIntentSize)
	}
	var in intent
	if err := json.Unmarshal(b, &in); err != nil {
		return nil, err
	}
	switch in.Op {
	case opApply:
		// The intent's file numbers were drawn from a manifest that was
		// never committed, so they may be one or two past next.
		if err := checkFileName(in.Undo, "undo/", ".undo", next+2); err != nil {
			return nil, err
		}
		if err := checkFileName(in.Hashes, "hashes-", ".bin", next+2); err != nil {
			return nil, err
		}
		if in.New.IsZero() {
			return nil, fmt.Errorf("apply intent without a new point")
		}
	case opRollback:
		if in.Target.IsZero() {
			return nil, fmt.Errorf("rollback intent without a target")
		}
	default:
		return nil, fmt.Errorf("unknown operation %q", in.Op)
	}
	return &in, nil
}
