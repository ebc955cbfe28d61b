package checkpoint

import (
	"encoding/json"
	"fmt"

	"github.com/blockrep/blockrep/delta"
)

// intentName is written (atomically, durably) before a rollback changes a
// live volume and removed after its manifest commit; on open, the rollback
// it names is finished. (An apply needs no intent: its undo log's header
// names the point it applies; a group's first apply has its own marker,
// firstApplyName.)
const intentName = "intent.json"

const maxIntentSize = 64 << 10

const (
	opApply    = "apply"
	opRollback = "rollback"
)

type intent struct {
	Op     string        `json:"op"`     // opRollback
	Target delta.PointID `json:"target"` // the point to return to
}

func decodeIntent(b []byte) (*intent, error) {
	if len(b) > maxIntentSize {
		return nil, fmt.Errorf("%d bytes exceeds limit %d", len(b), maxIntentSize)
	}
	var in intent
	if err := json.Unmarshal(b, &in); err != nil {
		return nil, err
	}
	if in.Op != opRollback {
		return nil, fmt.Errorf("unknown operation %q", in.Op)
	}
	if in.Target.IsZero() {
		return nil, fmt.Errorf("rollback intent without a target")
	}
	return &in, nil
}
