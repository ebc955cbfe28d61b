package checkpoint

import (
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/blockrep/blockrep/delta"
)

// manifestName is the group's manifest file, replaced atomically on every
// commit (temp file, fsync, rename, fsync of the directory).
const manifestName = "manifest.json"

// maxManifestSize bounds the manifest read from disk, checked before the
// file is read into memory.
const maxManifestSize = 64 << 20

const manifestVersion = 1

// manifest is the committed state of a group, decoded and validated.
type manifest struct {
	Group       string
	Spec        GroupSpec
	Points      []pointState // oldest first
	Pins        []Pin
	Hashes      string // file holding the block hash lists of the live volumes...
	HashLog     string // ...amended by this journal...
	HashLogSize int64  // ...up to this committed length
	NextFile    uint64 // sequence for new file names
	Created     time.Time
	Retention   Retention
	// DropBefore, when not zero, is a point of the chain: the points older
	// than it are kept only while a pin or a view holds them (Group.DropBefore).
	DropBefore delta.PointID
}

// pointState is a Point plus where its undo log lives.
type pointState struct {
	Point
	Undo        string // undo log that turns the next point back into this one; "" for the latest
	UndoRecords int64  // record count of that log
}

func (m *manifest) latest() *pointState {
	if len(m.Points) == 0 {
		return nil
	}
	return &m.Points[len(m.Points)-1]
}

func (m *manifest) index(id delta.PointID) int {
	for i := range m.Points {
		if m.Points[i].ID == id {
			return i
		}
	}
	return -1
}

// retained reports, per point of the chain, whether retention keeps it:
// the policy's choice, less the points older than the DropBefore mark.
func (m *manifest) retained() []bool {
	pts := make([]Point, len(m.Points))
	for i, p := range m.Points {
		pts[i] = p.Point
	}
	mark := 0
	if !m.DropBefore.IsZero() {
		mark = max(m.index(m.DropBefore), 0)
	}
	// The policy chooses among the points from the mark on only: a slot
	// it would fill with an older point keeps a newer one instead.
	return append(make([]bool, mark), m.Retention.keep(pts[mark:])...)
}

// settleDropBefore clears a DropBefore mark that has nothing older left
// to drop, or whose point is gone (a rollback discarded it: what it
// would have dropped is kept).
func (m *manifest) settleDropBefore() {
	if !m.DropBefore.IsZero() && m.index(m.DropBefore) <= 0 {
		m.DropBefore = delta.PointID{}
	}
}

func (m *manifest) pinned(id delta.PointID) bool {
	for _, p := range m.Pins {
		if p.Point == id {
			return true
		}
	}
	return false
}

// clone returns a deep enough copy to be modified and committed without
// touching m (sets are copied, they may be merged by a prune).
func (m *manifest) clone() *manifest {
	c := *m
	c.Points = make([]pointState, len(m.Points))
	for i, p := range m.Points {
		c.Points[i] = p
		c.Points[i].Changed = make([]*delta.Set, len(p.Changed))
		for v, s := range p.Changed {
			c.Points[i].Changed[v] = s.Clone()
		}
	}
	c.Pins = append([]Pin(nil), m.Pins...)
	c.Spec.Volumes = append([]delta.VolumeInfo(nil), m.Spec.Volumes...)
	return &c
}

// newFile returns a fresh file name "<prefix><n><suffix>".
func (m *manifest) newFile(prefix, suffix string) string {
	m.NextFile++
	return prefix + strconv.FormatUint(m.NextFile, 10) + suffix
}

// On-disk (JSON) form.
type jsonManifest struct {
	Version     int            `json:"version"`
	Group       string         `json:"group"`
	BlockSize   int            `json:"block_size"`
	Volumes     []jsonVolume   `json:"volumes"`
	Meta        []byte         `json:"meta,omitempty"`
	Retention   jsonRetention  `json:"retention"`
	Points      []jsonPoint    `json:"points"`
	Pins        []jsonPin      `json:"pins,omitempty"`
	Hashes      string         `json:"hashes"`
	HashLog     string         `json:"hash_log"`
	HashLogSize int64          `json:"hash_log_size"`
	NextFile    uint64         `json:"next_file"`
	Created     time.Time      `json:"created"`
	DropBefore  *delta.PointID `json:"drop_before,omitempty"`
}

type jsonVolume struct {
	ID   string `json:"id"`
	Size int64  `json:"size"`
}

type jsonRetention struct {
	Additional int           `json:"additional"`
	Spacing    time.Duration `json:"spacing"`
	KeepApp    bool          `json:"keep_app"`
}

type jsonPoint struct {
	ID          delta.PointID `json:"id"`
	Base        delta.PointID `json:"base"`
	Time        time.Time     `json:"time"`
	Applied     time.Time     `json:"applied"`
	App         bool          `json:"app,omitempty"`
	Size        int64         `json:"size"`
	Changed     [][]byte      `json:"changed"`
	Hash        string        `json:"hash"`
	Undo        string        `json:"undo,omitempty"`
	UndoSize    int64         `json:"undo_size,omitempty"`
	UndoRecords int64         `json:"undo_records,omitempty"`
}

type jsonPin struct {
	Point  delta.PointID `json:"point"`
	Holder string        `json:"holder"`
	Since  time.Time     `json:"since"`
}

func (m *manifest) encode() ([]byte, error) {
	j := jsonManifest{
		Version:     manifestVersion,
		Group:       m.Group,
		BlockSize:   m.Spec.BlockSize,
		Meta:        m.Spec.Meta,
		Retention:   jsonRetention(m.Retention),
		Points:      make([]jsonPoint, 0, len(m.Points)),
		Hashes:      m.Hashes,
		HashLog:     m.HashLog,
		HashLogSize: m.HashLogSize,
		NextFile:    m.NextFile,
		Created:     m.Created,
	}
	for _, v := range m.Spec.Volumes {
		j.Volumes = append(j.Volumes, jsonVolume{ID: v.ID, Size: v.Size})
	}
	for _, p := range m.Points {
		jp := jsonPoint{
			ID: p.ID, Base: p.Base, Time: p.Time, Applied: p.Applied,
			App: p.Consistency == delta.ConsistencyApp, Size: p.Size,
			Hash: hex.EncodeToString(p.Hash[:]), Undo: p.Undo, UndoSize: p.UndoSize, UndoRecords: p.UndoRecords,
		}
		for _, s := range p.Changed {
			b, err := s.MarshalBinary()
			if err != nil {
				return nil, err
			}
			jp.Changed = append(jp.Changed, b)
		}
		j.Points = append(j.Points, jp)
	}
	for _, p := range m.Pins {
		j.Pins = append(j.Pins, jsonPin(p))
	}
	if !m.DropBefore.IsZero() {
		id := m.DropBefore
		j.DropBefore = &id
	}
	return json.Marshal(&j)
}

// decodeManifest parses and validates a manifest of group. Every reference
// (file names, point ids, set sizes) is checked, so the rest of the package
// can trust it; any failure is a plain error the caller turns into a
// *DamagedError.
func decodeManifest(b []byte, group string) (*manifest, error) {
	if len(b) > maxManifestSize {
		return nil, fmt.Errorf("%d bytes exceeds limit %d", len(b), maxManifestSize)
	}
	var j jsonManifest
	if err := json.Unmarshal(b, &j); err != nil {
		return nil, err
	}
	if j.Version != manifestVersion {
		return nil, fmt.Errorf("version %d, want %d", j.Version, manifestVersion)
	}
	if j.Group != group {
		return nil, fmt.Errorf("manifest names group %q", j.Group)
	}
	m := &manifest{Group: j.Group, Hashes: j.Hashes, HashLog: j.HashLog, HashLogSize: j.HashLogSize, NextFile: j.NextFile, Created: j.Created, Retention: Retention(j.Retention)}
	if j.BlockSize == 0 {
		return nil, fmt.Errorf("block size missing")
	}
	m.Spec = GroupSpec{BlockSize: j.BlockSize, Meta: j.Meta, Retention: m.Retention}
	for _, v := range j.Volumes {
		m.Spec.Volumes = append(m.Spec.Volumes, delta.VolumeInfo{ID: v.ID, Size: v.Size})
	}
	if err := m.Spec.validate(); err != nil {
		return nil, err
	}
	if err := checkFileName(j.Hashes, "hashes-", ".bin", j.NextFile); err != nil {
		return nil, fmt.Errorf("hashes: %w", err)
	}
	if err := checkFileName(j.HashLog, "hashlog-", ".bin", j.NextFile); err != nil {
		return nil, fmt.Errorf("hash log: %w", err)
	}
	if j.HashLogSize < int64(len(hashLogMagic)) || j.HashLogSize > maxHashLogSize(m.Spec.Geometries()) {
		return nil, fmt.Errorf("hash log size %d out of range", j.HashLogSize)
	}
	if len(j.Points) > MaxPoints {
		return nil, fmt.Errorf("%d points exceeds limit %d", len(j.Points), MaxPoints)
	}
	geoms := m.Spec.Geometries()
	seen := make(map[delta.PointID]bool, len(j.Points))
	undos := make(map[string]bool, len(j.Points))
	for i, jp := range j.Points {
		if jp.ID.IsZero() || seen[jp.ID] {
			return nil, fmt.Errorf("point %d: zero or duplicate id %s", i, jp.ID)
		}
		seen[jp.ID] = true
		p := pointState{Point: Point{
			ID: jp.ID, Base: jp.Base, Time: jp.Time, Applied: jp.Applied, Size: jp.Size,
			UndoSize: jp.UndoSize, Consistency: delta.ConsistencyCrash,
		}, Undo: jp.Undo, UndoRecords: jp.UndoRecords}
		if jp.App {
			p.Consistency = delta.ConsistencyApp
		}
		if jp.Size < 0 || jp.UndoSize < 0 || jp.UndoRecords < 0 {
			return nil, fmt.Errorf("point %s: negative size", jp.ID)
		}
		h, err := hex.DecodeString(jp.Hash)
		if err != nil || len(h) != len(p.Hash) {
			return nil, fmt.Errorf("point %s: bad hash %q", jp.ID, jp.Hash)
		}
		copy(p.Hash[:], h)
		if len(jp.Changed) != len(geoms) {
			return nil, fmt.Errorf("point %s: %d block sets for %d volumes", jp.ID, len(jp.Changed), len(geoms))
		}
		for v, sb := range jp.Changed {
			s, n, err := delta.UnmarshalSet(sb, geoms[v].Blocks())
			if err != nil {
				return nil, fmt.Errorf("point %s volume %d: %w", jp.ID, v, err)
			}
			if n != len(sb) || s.Len() != geoms[v].Blocks() {
				return nil, fmt.Errorf("point %s volume %d: block set does not fit the volume", jp.ID, v)
			}
			p.Changed = append(p.Changed, s)
		}
		last := i == len(j.Points)-1
		switch {
		case last && jp.Undo != "":
			return nil, fmt.Errorf("latest point %s has an undo log", jp.ID)
		case !last:
			if err := checkFileName(jp.Undo, "undo/", ".undo", j.NextFile); err != nil || undos[jp.Undo] {
				return nil, fmt.Errorf("point %s: undo log %q unusable or shared", jp.ID, jp.Undo)
			}
			undos[jp.Undo] = true
		}
		m.Points = append(m.Points, p)
	}
	if len(j.Pins) > MaxPins {
		return nil, fmt.Errorf("%d pins exceeds limit %d", len(j.Pins), MaxPins)
	}
	for _, jp := range j.Pins {
		if !seen[jp.Point] || !validHolder(jp.Holder) {
			return nil, fmt.Errorf("pin %q of point %s: unknown point or bad holder", jp.Holder, jp.Point)
		}
		m.Pins = append(m.Pins, Pin(jp))
	}
	if j.DropBefore != nil {
		if !seen[*j.DropBefore] {
			return nil, fmt.Errorf("drop-before mark names unknown point %s", *j.DropBefore)
		}
		m.DropBefore = *j.DropBefore
	}
	return m, nil
}

// checkFileName accepts only names this package generates:
// prefix + decimal sequence number below next + suffix.
func checkFileName(name, prefix, suffix string, next uint64) error {
	num, ok := strings.CutPrefix(name, prefix)
	if ok {
		num, ok = strings.CutSuffix(num, suffix)
	}
	if !ok || num == "" || len(num) > 20 {
		return fmt.Errorf("file name %q is not %s<n>%s", name, prefix, suffix)
	}
	for _, c := range num {
		if c < '0' || c > '9' {
			return fmt.Errorf("file name %q is not %s<n>%s", name, prefix, suffix)
		}
	}
	n, err := strconv.ParseUint(num, 10, 64)
	if err != nil || n == 0 || n > next || strconv.FormatUint(n, 10) != num {
		return fmt.Errorf("file name %q outside the sequence", name)
	}
	return nil
}
