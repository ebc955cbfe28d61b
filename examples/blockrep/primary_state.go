package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/blockrep/blockrep/checkpoint"
	"github.com/blockrep/blockrep/delta"
	"github.com/blockrep/blockrep/replica"
)

// The primary's state directory (--state DIR):
//
//	DIR/blockrep.lock          held by the one process using the directory
//	DIR/groups/G.json          the group's configuration and progress (groupState)
//	DIR/groups/G.tracker       the persistent change tracker (delta tracker file)
//	DIR/groups/G.N.pagehashes  page hashes of volume N as of the last acknowledged cycle
const (
	stateGroupsDir = "groups"
	stateVersion   = 1
	maxStateFile   = 1 << 20
	maxPending     = 8
)

// groupState is what the primary keeps of one group between processes.
// It is replaced atomically; the fields that record progress (LastPoint,
// PendingPoints, the page hashes) are written only once what they describe
// is durable on the replica, or before it could be.
type groupState struct {
	Version    int      `json:"version"`
	Group      string   `json:"group"`
	Volumes    []string `json:"volumes"` // absolute paths of the image files
	Sizes      []int64  `json:"sizes"`   // their sizes at enable
	Replica    string   `json:"replica"`
	Frequency  duration `json:"frequency"`
	Points     int      `json:"points"`      // additional recovery points kept
	PointEvery duration `json:"point_every"` // one per this interval (0: every cycle's)
	AppEvery   duration `json:"app_every,omitempty"`
	NoCompress bool     `json:"no_compress,omitempty"`
	BlockSize  int      `json:"block_size"`
	Initial    string   `json:"initial"` // network, media:DIR, seed or later

	// TLS files recorded at enable, used when a later command gives none.
	Cert     string `json:"cert,omitempty"`
	Key      string `json:"key,omitempty"`
	CA       string `json:"ca,omitempty"`
	Insecure bool   `json:"insecure,omitempty"`
	Name     string `json:"name,omitempty"`

	// State is the relationship's state as this tool last saw it:
	// InitialReplicationPending, Replicating, Suspended or
	// ResynchronizationRequired.
	State replica.State `json:"state"`
	// ResumeTo is the state resume returns to (while Suspended).
	ResumeTo replica.State `json:"resume_to,omitempty"`
	// LastPoint is the last point the replica acknowledged (zero before
	// the initial replication); LastTime its instant.
	LastPoint delta.PointID `json:"last_point"`
	LastTime  time.Time     `json:"last_time,omitzero"`
	// PendingPoints are the ids of the points announced to the replica
	// and not acknowledged, newest first (at most maxPending): if the
	// replica committed one before its acknowledgement was lost, the next
	// cycle builds on it.
	PendingPoints []delta.PointID `json:"pending_points,omitempty"`
	// Exported is the point a media initial replication wrote to the
	// media and the replica has not imported yet; ExportedTime its instant.
	Exported     delta.PointID `json:"exported_point"`
	ExportedTime time.Time     `json:"exported_time,omitzero"`

	// Demoted is set once the group was handed over to the replica
	// (planned failover, or reverse after an unplanned one): the store
	// where this host keeps it as a replica now.
	Demoted string `json:"demoted,omitempty"`

	Stats savedStats `json:"stats"`
}

// duration is a time.Duration written as "5m0s" in JSON.
type duration time.Duration

func (d duration) MarshalText() ([]byte, error) { return []byte(time.Duration(d).String()), nil }

func (d *duration) UnmarshalText(b []byte) error {
	v, err := time.ParseDuration(string(b))
	if err != nil {
		return err
	}
	*d = duration(v)
	return nil
}

// stateDir is an opened primary state directory.
type stateDir struct {
	root string
}

func (s stateDir) groupsDir() string { return filepath.Join(s.root, stateGroupsDir) }

func (s stateDir) statePath(g string) string {
	return filepath.Join(s.groupsDir(), g+".json")
}

func (s stateDir) trackerPath(g string) string {
	return filepath.Join(s.groupsDir(), g+".tracker")
}

func (s stateDir) hashesPath(g string, vol int) string {
	return filepath.Join(s.groupsDir(), fmt.Sprintf("%s.%d.pagehashes", g, vol))
}

// errNoGroup is returned for a group the state directory does not hold.
var errNoGroup = errors.New("no such group in the state directory")

// load reads the state of group g.
func (s stateDir) load(g string) (*groupState, error) {
	if err := checkpoint.ValidGroupID(g); err != nil {
		return nil, usagef("--group: %v", err)
	}
	b, err := readFileLimit(s.statePath(g), maxStateFile)
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("group %s: %w (%s)", g, errNoGroup, s.root)
	}
	if err != nil {
		return nil, err
	}
	var st groupState
	if err := json.Unmarshal(b, &st); err != nil {
		return nil, fmt.Errorf("group %s: state file %s: %w", g, s.statePath(g), err)
	}
	if err := st.check(g); err != nil {
		return nil, fmt.Errorf("group %s: state file %s: %w", g, s.statePath(g), err)
	}
	return &st, nil
}

// check validates a state read from disk.
func (st *groupState) check(g string) error {
	switch {
	case st.Version != stateVersion:
		return fmt.Errorf("version %d, want %d", st.Version, stateVersion)
	case st.Group != g:
		return fmt.Errorf("names group %q", st.Group)
	case len(st.Volumes) == 0 || len(st.Volumes) != len(st.Sizes):
		return errors.New("volumes and sizes do not match")
	case st.Replica == "":
		return errors.New("no replica address")
	case len(st.PendingPoints) > maxPending:
		return fmt.Errorf("%d pending points, at most %d", len(st.PendingPoints), maxPending)
	}
	return nil
}

// save replaces the state of its group atomically.
func (s stateDir) save(st *groupState) error {
	b, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return err
	}
	return writeFileAtomic(s.statePath(st.Group), append(b, '\n'))
}

// groups lists the groups of the directory, sorted.
func (s stateDir) groups() ([]string, error) {
	ents, err := os.ReadDir(s.groupsDir())
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var out []string
	for _, e := range ents {
		n, ok := strings.CutSuffix(e.Name(), ".json")
		if ok && !strings.HasPrefix(n, ".") && checkpoint.ValidGroupID(n) == nil {
			out = append(out, n)
		}
	}
	return out, nil
}

// newestPending returns the newest pending point (zero when none).
func (st *groupState) newestPending() delta.PointID {
	if len(st.PendingPoints) == 0 {
		return delta.PointID{}
	}
	return st.PendingPoints[0]
}

// initialMode is the library's initial replication mode, and the media
// directory for media.
func (st *groupState) initialMode() (replica.InitialMode, string) {
	switch {
	case st.Initial == "seed":
		return replica.Seed, ""
	case strings.HasPrefix(st.Initial, "media:"):
		return replica.Media, strings.TrimPrefix(st.Initial, "media:")
	}
	return replica.Network, ""
}

// retention is the checkpoint retention the state asks for.
func (st *groupState) retention() checkpoint.Retention {
	r := checkpoint.Retention{Additional: st.Points, Spacing: time.Duration(st.PointEvery)}
	if r.Spacing == 0 {
		// Every cycle's point is kept (up to Points): a slot narrower
		// than any two cycles' instants apart.
		r.Spacing = time.Nanosecond
	}
	return r
}
