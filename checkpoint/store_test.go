package checkpoint

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/blockrep/blockrep/checkpoint/vfs"
	"github.com/blockrep/blockrep/delta"
)

var oneVolume = GroupSpec{Volumes: []delta.VolumeInfo{{ID: "disk0", Size: 1 << 20}}}

func TestGroupIDs(t *testing.T) {
	ctx := context.Background()
	st, err := Open(vfs.NewMem(), "store")
	require.NoError(t, err)
	defer st.Close()
	for _, id := range []string{"", ".", "..", "../x", "a/b", "/abs", `a\b`, "x y", "é", strings.Repeat("a", 256), "a\x00"} {
		_, err := st.CreateGroup(ctx, id, oneVolume)
		assert.ErrorIs(t, err, ErrInvalidGroupID, "%q", id)
		_, err = st.Group(ctx, id)
		assert.ErrorIs(t, err, ErrInvalidGroupID, "%q", id)
		assert.ErrorIs(t, st.RemoveGroup(ctx, id), ErrInvalidGroupID, "%q", id)
	}
	for _, id := range []string{"a", ".hidden", "vm-1.disk_2", strings.Repeat("z", 255), "..."} {
		_, err := st.CreateGroup(ctx, id, oneVolume)
		assert.NoError(t, err, "%q", id)
	}
	ids, err := st.Groups(ctx)
	require.NoError(t, err)
	assert.Equal(t, []string{"...", ".hidden", "a", "vm-1.disk_2", strings.Repeat("z", 255)}, ids)
}

func TestGroupLifecycle(t *testing.T) {
	ctx := context.Background()
	fsys := vfs.NewMem()
	st, err := Open(fsys, "store")
	require.NoError(t, err)
	_, err = st.Group(ctx, "vm1")
	require.ErrorIs(t, err, ErrUnknownGroup)
	for _, bad := range []GroupSpec{
		{},
		{Volumes: []delta.VolumeInfo{{ID: "a", Size: -1}}},
		{Volumes: []delta.VolumeInfo{{ID: "a", Size: 1 << 20}}, BlockSize: 3000},
		{Volumes: []delta.VolumeInfo{{ID: "a", Size: 1}, {ID: "a", Size: 1}}},
		{Volumes: []delta.VolumeInfo{{ID: "", Size: 1}}},
		{Volumes: []delta.VolumeInfo{{ID: "a", Size: 1}}, Meta: make([]byte, MaxMetaSize+1)},
		{Volumes: []delta.VolumeInfo{{ID: "a", Size: 1}}, Retention: Retention{Additional: -1}},
	} {
		_, err := st.CreateGroup(ctx, "vm1", bad)
		require.ErrorIs(t, err, ErrInvalidSpec)
	}
	spec := oneVolume
	spec.Meta = []byte("vm config")
	g, err := st.CreateGroup(ctx, "vm1", spec)
	require.NoError(t, err)
	_, err = st.CreateGroup(ctx, "vm1", spec)
	require.ErrorIs(t, err, ErrGroupExists)
	assert.Equal(t, delta.DefaultBlockSize, g.Spec().BlockSize)
	require.NoError(t, g.SetMeta(ctx, []byte("new config")))
	require.NoError(t, g.SetRetention(ctx, Retention{Additional: 5}))

	w := newWorld(t, 50, "vm1", delta.DefaultBlockSize, 1<<20)
	w.spec.Volumes[0].ID = "disk0"
	apply(t, g, w.next(change{blocks: 3}))
	apply(t, g, w.next(change{blocks: 3}))
	require.NoError(t, g.Pin(ctx, w.points[0].id, "downstream:dr2"))
	require.NoError(t, g.Pin(ctx, w.points[0].id, "downstream:dr2"))
	require.NoError(t, g.Pin(ctx, w.points[1].id, "backup"))
	require.ErrorIs(t, g.Pin(ctx, delta.PointID{7}, "x"), ErrUnknownPoint)
	require.ErrorIs(t, g.Pin(ctx, w.points[0].id, ""), ErrInvalidName)
	require.NoError(t, st.Close())
	_, err = g.Points(ctx)
	require.ErrorIs(t, err, ErrClosed)
	_, err = st.Group(ctx, "vm1")
	require.ErrorIs(t, err, ErrClosed)
	require.NoError(t, st.Close())

	// Everything survives a crash and reopen.
	st, err = Open(fsys.Crash(), "store")
	require.NoError(t, err)
	defer st.Close()
	g, err = st.Group(ctx, "vm1")
	require.NoError(t, err)
	assert.Equal(t, []byte("new config"), g.Spec().Meta)
	assert.Equal(t, Retention{Additional: 5}, g.Spec().Retention)
	assert.Equal(t, Recovery{Point: w.latest()}, g.Recovered())
	pins, err := g.Pins(ctx)
	require.NoError(t, err)
	require.Len(t, pins, 2)
	assert.Equal(t, Pin{Point: w.points[0].id, Holder: "downstream:dr2", Since: pins[0].Since}, pins[0])
	assert.Equal(t, Pin{Point: w.points[1].id, Holder: "backup", Since: pins[1].Since}, pins[1])
	requireChainOf(t, g, w)

	require.ErrorIs(t, st.RemoveGroup(ctx, "vm1"), ErrPinned)
	require.NoError(t, g.Unpin(ctx, w.points[0].id, "downstream:dr2"))
	require.NoError(t, g.Unpin(ctx, w.points[1].id, "backup"))
	require.NoError(t, g.Unpin(ctx, w.points[1].id, "backup"))
	require.NoError(t, st.RemoveGroup(ctx, "vm1"))
	_, err = st.Group(ctx, "vm1")
	require.ErrorIs(t, err, ErrUnknownGroup)
	assert.ErrorIs(t, st.RemoveGroup(ctx, "vm1"), ErrUnknownGroup)
	_, err = g.Points(ctx)
	require.ErrorIs(t, err, ErrClosed)
}

func TestChangedBlocks(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t, 51, "vm1", 16<<10, 256<<10, 64<<10)
	w.spec.Retention = Retention{Additional: 10}
	_, _, g := newMemStore(t, w)
	for range 5 {
		apply(t, g, w.next(change{blocks: 4, pages: true}))
	}
	pts, err := g.Points(ctx)
	require.NoError(t, err)
	for i := range pts {
		for j := range pts {
			sets, err := g.ChangedBlocks(ctx, pts[i].ID, pts[j].ID)
			require.NoError(t, err)
			for v := range w.geoms {
				want := delta.NewSet(w.geoms[v].Blocks())
				for k := min(i, j) + 1; k <= max(i, j); k++ {
					require.NoError(t, want.Union(pts[k].Changed[v]))
				}
				assert.True(t, want.Equal(sets[v]), "from %d to %d volume %d", i, j, v)
			}
		}
	}
	sets, err := g.ChangedBlocks(ctx, delta.PointID{}, pts[2].ID)
	require.NoError(t, err)
	assert.Equal(t, w.geoms[0].Blocks(), sets[0].Count())
	_, err = g.ChangedBlocks(ctx, delta.PointID{1}, pts[2].ID)
	require.ErrorIs(t, err, ErrUnknownPoint)
	_, err = g.ChangedBlocks(ctx, pts[0].ID, delta.PointID{1})
	require.ErrorIs(t, err, ErrUnknownPoint)
}

// damage describes a hand-made injury to a group directory.
type damage struct {
	name string
	file string // expected DamagedError.File
	do   func(t *testing.T, fsys *vfs.MemFS, dir string, m *manifest)
}

func TestDamagedStoreIsReported(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t, 52, "vm1", 16<<10, 256<<10)
	w.spec.Retention = Retention{Additional: 5}
	base := setupChain(t, w, 3, change{blocks: 5, pages: true})
	dir := "store/groups/vm1"
	write := func(t *testing.T, fsys *vfs.MemFS, name string, b []byte) {
		f, err := fsys.Create(name)
		require.NoError(t, err)
		_, err = f.Write(b)
		require.NoError(t, err)
		require.NoError(t, f.Close())
	}
	truncate := func(t *testing.T, fsys *vfs.MemFS, name string, by int64) {
		st, err := fsys.Stat(name)
		require.NoError(t, err)
		f, err := fsys.OpenFile(name, 2, 0)
		require.NoError(t, err)
		require.NoError(t, f.Truncate(st.Size()-by))
		require.NoError(t, f.Close())
	}
	for _, d := range []damage{
		{"manifest missing", manifestName, func(t *testing.T, fsys *vfs.MemFS, dir string, m *manifest) {
			require.NoError(t, fsys.Remove(dir+"/"+manifestName))
		}},
		{"manifest garbage", manifestName, func(t *testing.T, fsys *vfs.MemFS, dir string, m *manifest) {
			write(t, fsys, dir+"/"+manifestName, []byte("{not json"))
		}},
		{"undo log truncated", "undo", func(t *testing.T, fsys *vfs.MemFS, dir string, m *manifest) {
			truncate(t, fsys, dir+"/"+m.Points[1].Undo, 100)
		}},
		{"undo log missing", "undo", func(t *testing.T, fsys *vfs.MemFS, dir string, m *manifest) {
			require.NoError(t, fsys.Remove(dir+"/"+m.Points[0].Undo))
		}},
		{"volume truncated", volumeName(0), func(t *testing.T, fsys *vfs.MemFS, dir string, m *manifest) {
			truncate(t, fsys, dir+"/"+volumeName(0), 4096)
		}},
		{"volume missing", volumeName(0), func(t *testing.T, fsys *vfs.MemFS, dir string, m *manifest) {
			require.NoError(t, fsys.Remove(dir+"/"+volumeName(0)))
		}},
		{"hashes corrupt", "hashes", func(t *testing.T, fsys *vfs.MemFS, dir string, m *manifest) {
			b, err := fsys.ReadFile(dir + "/" + m.Hashes)
			require.NoError(t, err)
			b[len(b)/2] ^= 1
			write(t, fsys, dir+"/"+m.Hashes, b)
		}},
		{"hash journal truncated", "hashlog", func(t *testing.T, fsys *vfs.MemFS, dir string, m *manifest) {
			truncate(t, fsys, dir+"/"+m.HashLog, 10)
		}},
		{"hash journal corrupt", "hashlog", func(t *testing.T, fsys *vfs.MemFS, dir string, m *manifest) {
			b, err := fsys.ReadFile(dir + "/" + m.HashLog)
			require.NoError(t, err)
			b[len(b)-10] ^= 1
			write(t, fsys, dir+"/"+m.HashLog, b)
		}},
		{"intent garbage", intentName, func(t *testing.T, fsys *vfs.MemFS, dir string, m *manifest) {
			write(t, fsys, dir+"/"+intentName, []byte(`{"op":"format-disk"}`))
		}},
	} {
		t.Run(d.name, func(t *testing.T) {
			fsys := base.Clone()
			mb, err := fsys.ReadFile(dir + "/" + manifestName)
			require.NoError(t, err)
			m, err := decodeManifest(mb, "vm1")
			require.NoError(t, err)
			d.do(t, fsys, dir, m)
			before := fsys.Snapshot()
			st, err := Open(fsys, "store")
			require.NoError(t, err)
			defer st.Close()
			_, err = st.Group(ctx, "vm1")
			var de *DamagedError
			require.ErrorAs(t, err, &de)
			assert.ErrorIs(t, err, ErrDamaged)
			assert.Equal(t, "vm1", de.Group)
			assert.True(t, strings.HasPrefix(de.File, d.file), "file %q, want %q...", de.File, d.file)
			assert.Equal(t, before, fsys.Snapshot(), "damage was 'repaired'")
			// Other groups are unaffected; the damaged one can be removed.
			require.NoError(t, st.RemoveGroup(ctx, "vm1"))
		})
	}
}

// Damage inside an undo log whose size still matches (bit rot) is found
// by Verify, which rehashes the point; without the log's index file, the
// full scan that replaces it finds it on the first read.
func TestDamagedUndoLogFound(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t, 53, "vm1", 16<<10, 256<<10)
	w.spec.Retention = Retention{Additional: 5}
	base := setupChain(t, w, 3, change{blocks: 5})
	dir := "store/groups/vm1"
	mb, err := base.ReadFile(dir + "/" + manifestName)
	require.NoError(t, err)
	m, err := decodeManifest(mb, "vm1")
	require.NoError(t, err)
	for _, withIndex := range []bool{true, false} {
		fsys := base.Clone()
		f, err := fsys.OpenFile(dir+"/"+m.Points[0].Undo, 2, 0)
		require.NoError(t, err)
		_, err = f.WriteAt([]byte{0xff, 0xff, 0xff}, 200)
		require.NoError(t, err)
		require.NoError(t, f.Close())
		if !withIndex {
			require.NoError(t, fsys.Remove(dir+"/"+indexName(m.Points[0].Undo)))
		}
		st, err := Open(fsys, "store")
		require.NoError(t, err)
		g, err := st.Group(ctx, "vm1")
		require.NoError(t, err)
		requirePoint(t, g, w.points[2].id, w.points[2].imgs)
		requirePoint(t, g, w.points[1].id, w.points[1].imgs)
		require.NoError(t, g.Verify(ctx, w.points[1].id))
		if withIndex {
			require.ErrorIs(t, g.Verify(ctx, w.points[0].id), ErrVerifyFailed)
		} else {
			v, err := g.OpenPoint(ctx, w.points[0].id)
			require.NoError(t, err)
			_, err = v.Volumes()[0].ReadAt(make([]byte, 4096), 0)
			var de *DamagedError
			require.ErrorAs(t, err, &de)
			assert.Equal(t, m.Points[0].Undo, de.File)
			require.ErrorIs(t, g.Verify(ctx, w.points[0].id), ErrDamaged)
			v.Close()
		}
		st.Close()
	}
}

// A damaged or foreign index file is not trusted: the log is scanned.
func TestUndoIndexMismatchFallsBackToScan(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t, 56, "vm1", 16<<10, 256<<10)
	w.spec.Retention = Retention{Additional: 5}
	fsys := setupChain(t, w, 4, change{blocks: 5, pages: true})
	dir := "store/groups/vm1"
	mb, err := fsys.ReadFile(dir + "/" + manifestName)
	require.NoError(t, err)
	m, err := decodeManifest(mb, "vm1")
	require.NoError(t, err)
	// Swap two logs' indexes and corrupt a third.
	a, err := fsys.ReadFile(dir + "/" + indexName(m.Points[0].Undo))
	require.NoError(t, err)
	b, err := fsys.ReadFile(dir + "/" + indexName(m.Points[1].Undo))
	require.NoError(t, err)
	c, err := fsys.ReadFile(dir + "/" + indexName(m.Points[2].Undo))
	require.NoError(t, err)
	c[len(c)/2] ^= 1
	for name, data := range map[string][]byte{m.Points[0].Undo: b, m.Points[1].Undo: a, m.Points[2].Undo: c} {
		f, err := fsys.Create(dir + "/" + indexName(name))
		require.NoError(t, err)
		_, err = f.Write(data)
		require.NoError(t, err)
		require.NoError(t, f.Close())
	}
	st, err := Open(fsys, "store")
	require.NoError(t, err)
	defer st.Close()
	g, err := st.Group(ctx, "vm1")
	require.NoError(t, err)
	requireChainOf(t, g, w)
}

func FuzzUndoIndex(f *testing.F) {
	b, recs := sampleUndoLog(f, 5)
	ix, _, err := readUndoLog(&memFile{b}, int64(len(b)), undoGeoms, 64<<10, false)
	require.NoError(f, err)
	f.Add(encodeUndoIndex(ix, int64(len(b))))
	f.Fuzz(func(t *testing.T, data []byte) {
		got, err := decodeUndoIndex(data, int64(len(b)), int64(len(recs)), undoGeoms)
		if err != nil {
			return
		}
		require.Equal(t, int64(len(recs)), got.records)
		for v, m := range got.vols {
			for blk, e := range m {
				_, blen := undoGeoms[v].BlockBounds(blk)
				require.LessOrEqual(t, e.off+int64(maskBytes(e.mask, blen)), int64(len(b)))
			}
		}
	})
}

func TestIndexLimit(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t, 54, "vm1", 16<<10, 256<<10)
	w.spec.Retention = Retention{Additional: 5}
	fsys := setupChain(t, w, 4, change{blocks: 5})
	st, err := Open(fsys, "store")
	require.NoError(t, err)
	g, err := st.Group(ctx, "vm1")
	require.NoError(t, err)
	pts, err := g.Points(ctx)
	require.NoError(t, err)
	require.NoError(t, st.Close())
	// The log of point i holds the blocks point i+1 changed.
	limit := pts[2].ChangedBlocks() + pts[3].ChangedBlocks()
	st, err = Open(fsys, "store", WithMaxIndexEntries(limit))
	require.NoError(t, err)
	defer st.Close()
	g, err = st.Group(ctx, "vm1")
	require.NoError(t, err)
	requirePoint(t, g, w.points[1].id, w.points[1].imgs)
	v, err := g.OpenPoint(ctx, w.points[0].id)
	require.NoError(t, err)
	defer v.Close()
	_, err = v.Volumes()[0].ReadAt(make([]byte, 10), 0)
	require.ErrorIs(t, err, delta.ErrLimit)
}

func TestViewsAfterClose(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t, 55, "vm1", 16<<10, 64<<10)
	_, st, g := newMemStore(t, w)
	apply(t, g, w.next(change{blocks: 2}))
	v, err := g.OpenPoint(ctx, w.latest())
	require.NoError(t, err)
	c, err := g.Clone(ctx, w.latest(), "c")
	require.NoError(t, err)
	require.NoError(t, v.Close())
	require.NoError(t, v.Close())
	_, err = v.Volumes()[0].ReadAt(make([]byte, 1), 0)
	require.ErrorIs(t, err, ErrClosed)
	require.NoError(t, st.Close())
	_, err = c.Volumes()[0].ReadAt(make([]byte, 1), 0)
	require.Error(t, err)
	_, err = g.Apply(ctx, bytes.NewReader(w.next(change{blocks: 1})))
	require.ErrorIs(t, err, ErrClosed)
}
