package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/blockrep/blockrep/checkpoint"
)

// hopRecord is one hop serve runs for a group of its store: an extended
// hop (extendFile) or a reversed group (reverseFile).
type hopRecord struct {
	Group string   `json:"group"`
	To    string   `json:"to"`    // the peer's serve address
	Every duration `json:"every"` // the hop's frequency
}

// maxHopFile bounds a hop record file read back.
const maxHopFile = 4 << 20

// loadHops reads the records of dir/name: none when the file is missing,
// an error naming the file when it or a record is malformed.
func loadHops(dir, name string) ([]hopRecord, error) {
	b, err := readFileLimit(filepath.Join(dir, name), maxHopFile)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var recs []hopRecord
	if err := json.Unmarshal(b, &recs); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	for _, r := range recs {
		if err := checkpoint.ValidGroupID(r.Group); err != nil || r.To == "" {
			return nil, fmt.Errorf("%s: bad record %+v", name, r)
		}
	}
	return recs, nil
}

// saveHops replaces dir/name with recs atomically.
func saveHops(dir, name string, recs []hopRecord) error {
	b, err := json.MarshalIndent(recs, "", "  ")
	if err != nil {
		return err
	}
	return writeFileAtomic(filepath.Join(dir, name), append(b, '\n'))
}
