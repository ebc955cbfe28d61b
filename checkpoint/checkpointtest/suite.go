package checkpointtest

import (
	"bytes"
	"context"
	"io"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/blockrep/blockrep/checkpoint"
	"github.com/blockrep/blockrep/delta"
)

// Run runs the conformance suite; newStore returns a fresh, empty store,
// which the suite closes.
func Run(t *testing.T, newStore func(t *testing.T) checkpoint.Store) {
	for _, tc := range []struct {
		name string
		fn   func(t *testing.T, st checkpoint.Store)
	}{
		{"Groups", testGroups},
		{"ApplyAndRead", testApplyAndRead},
		{"BadDeltas", testBadDeltas},
		{"Retention", testRetention},
		{"PinsAndClones", testPinsAndClones},
		{"OpenClone", testOpenClone},
		{"ChangedBlocks", testChangedBlocks},
		{"Rollback", testRollback},
		{"Export", testExport},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st := newStore(t)
			defer func() { assert.NoError(t, st.Close()) }()
			tc.fn(t, st)
		})
	}
}

// RequirePoint checks every volume of point id of g against want, byte for
// byte.
func RequirePoint(t testing.TB, g checkpoint.Group, id delta.PointID, want [][]byte) {
	t.Helper()
	v, err := g.OpenPoint(context.Background(), id)
	require.NoError(t, err)
	defer v.Close()
	require.Len(t, v.Volumes(), len(want))
	for i, r := range v.Volumes() {
		require.Equal(t, int64(len(want[i])), r.Size())
		got := make([]byte, r.Size())
		n, err := r.ReadAt(got, 0)
		if err != io.EOF || n != len(got) {
			require.NoError(t, err)
		}
		if !bytes.Equal(got, want[i]) {
			t.Fatalf("point %s volume %d differs from the primary's", id, i)
		}
	}
}

func newGroup(t *testing.T, st checkpoint.Store, p *Primary, r checkpoint.Retention) checkpoint.Group {
	t.Helper()
	spec := p.Spec
	spec.Retention = r
	g, err := st.CreateGroup(context.Background(), p.Group, spec)
	require.NoError(t, err)
	return g
}

func applyOK(t *testing.T, g checkpoint.Group, stream []byte) checkpoint.ApplyResult {
	t.Helper()
	res, err := g.Apply(context.Background(), bytes.NewReader(stream))
	require.NoError(t, err)
	return res
}

func testGroups(t *testing.T, st checkpoint.Store) {
	ctx := context.Background()
	p := NewPrimary("vm-a", 1, 16<<10, 64<<10)
	_, err := st.Group(ctx, "vm-a")
	require.ErrorIs(t, err, checkpoint.ErrUnknownGroup)
	for _, bad := range []string{"", "..", "a/b", "../../etc"} {
		_, err := st.CreateGroup(ctx, bad, p.Spec)
		require.ErrorIs(t, err, checkpoint.ErrInvalidGroupID)
	}
	newGroup(t, st, p, checkpoint.Retention{})
	_, err = st.CreateGroup(ctx, "vm-a", p.Spec)
	require.ErrorIs(t, err, checkpoint.ErrGroupExists)
	newGroup(t, st, NewPrimary("vm-b", 2, 16<<10, 64<<10), checkpoint.Retention{})
	ids, err := st.Groups(ctx)
	require.NoError(t, err)
	assert.Equal(t, []string{"vm-a", "vm-b"}, ids)
	g, err := st.Group(ctx, "vm-a")
	require.NoError(t, err)
	_, err = g.Latest(ctx)
	require.ErrorIs(t, err, checkpoint.ErrNoPoint)
	require.NoError(t, st.RemoveGroup(ctx, "vm-a"))
	ids, err = st.Groups(ctx)
	require.NoError(t, err)
	assert.Equal(t, []string{"vm-b"}, ids)
}

func testApplyAndRead(t *testing.T, st checkpoint.Store) {
	ctx := context.Background()
	p := NewPrimary("vm1", 3, 16<<10, 256<<10, 100<<10+7)
	g := newGroup(t, st, p, checkpoint.Retention{Additional: 10})
	for i := range 6 {
		res := applyOK(t, g, p.Next(Change{Blocks: 6, Pages: true, Zeros: i%2 == 0, Copies: true, App: i == 3}))
		assert.Equal(t, p.Latest(), res.Point.ID)
		assert.False(t, res.Replayed)
	}
	pts, err := g.Points(ctx)
	require.NoError(t, err)
	require.Len(t, pts, 6)
	for i, pt := range pts {
		assert.Equal(t, p.Points()[i].ID, pt.ID)
		assert.Equal(t, i == 3, pt.Consistency == delta.ConsistencyApp)
		RequirePoint(t, g, pt.ID, p.Points()[i].Images)
		require.NoError(t, g.Verify(ctx, pt.ID))
	}
	latest, err := g.Latest(ctx)
	require.NoError(t, err)
	assert.Equal(t, p.Latest(), latest.ID)
}

func testBadDeltas(t *testing.T, st checkpoint.Store) {
	ctx := context.Background()
	p := NewPrimary("vm1", 4, 16<<10, 128<<10)
	g := newGroup(t, st, p, checkpoint.Retention{Additional: 3})
	first := p.Next(Change{Blocks: 4})
	applyOK(t, g, first)
	second := p.Next(Change{Blocks: 4, Pages: true})
	corrupt := bytes.Clone(second)
	corrupt[len(corrupt)/2] ^= 1
	other := NewPrimary("vm1", 5, 16<<10, 64<<10).Next(Change{Blocks: 1})
	for _, tc := range []struct {
		stream []byte
		want   error
	}{
		{second[:len(second)-1], delta.ErrCorrupt},
		{corrupt, delta.ErrCorrupt},
		{other, checkpoint.ErrBaseMismatch},
	} {
		_, err := g.Apply(ctx, bytes.NewReader(tc.stream))
		require.ErrorIs(t, err, tc.want)
		pts, err := g.Points(ctx)
		require.NoError(t, err)
		require.Len(t, pts, 1)
		RequirePoint(t, g, p.Points()[0].ID, p.Points()[0].Images)
	}
	res := applyOK(t, g, first)
	assert.True(t, res.Replayed)
	applyOK(t, g, second)
	res = applyOK(t, g, second)
	assert.True(t, res.Replayed)
	RequirePoint(t, g, p.Latest(), p.Points()[1].Images)
}

func testRetention(t *testing.T, st checkpoint.Store) {
	ctx := context.Background()
	p := NewPrimary("vm1", 6, 16<<10, 128<<10)
	p.Step = 30 * time.Minute
	g := newGroup(t, st, p, checkpoint.Retention{Additional: 3})
	for range 12 {
		applyOK(t, g, p.Next(Change{Blocks: 3, Pages: true}))
	}
	pts, err := g.Points(ctx)
	require.NoError(t, err)
	// Points every half hour, the latest at 13:30: the latest and the
	// newest of the three hours before its own.
	require.Len(t, pts, 4)
	for i, want := range []string{"10:30", "11:30", "12:30", "13:30"} {
		assert.Equal(t, want, pts[i].Time.UTC().Format("15:04"))
		RequirePoint(t, g, pts[i].ID, p.Images(pts[i].ID))
	}
	require.NoError(t, g.SetRetention(ctx, checkpoint.Retention{}))
	pts, err = g.Points(ctx)
	require.NoError(t, err)
	require.Len(t, pts, 1)
	RequirePoint(t, g, p.Latest(), p.Images(p.Latest()))
}

func testPinsAndClones(t *testing.T, st checkpoint.Store) {
	ctx := context.Background()
	p := NewPrimary("vm1", 7, 16<<10, 128<<10)
	g := newGroup(t, st, p, checkpoint.Retention{})
	applyOK(t, g, p.Next(Change{Blocks: 4}))
	held := p.Latest()
	require.NoError(t, g.Pin(ctx, held, "downstream"))
	c, err := g.Clone(ctx, held, "tf")
	require.NoError(t, err)
	for range 3 {
		applyOK(t, g, p.Next(Change{Blocks: 4, Pages: true}))
	}
	pts, err := g.Points(ctx)
	require.NoError(t, err)
	require.Len(t, pts, 2, "the pinned point and the latest")
	assert.Equal(t, held, pts[0].ID)
	RequirePoint(t, g, held, p.Images(held))

	want := bytes.Clone(p.Images(held)[0])
	data := bytes.Repeat([]byte("clone"), 5000)
	_, err = c.Volumes()[0].WriteAt(data, 1000)
	require.NoError(t, err)
	copy(want[1000:], data)
	got := make([]byte, len(want))
	_, err = c.Volumes()[0].ReadAt(got, 0)
	require.NoError(t, err)
	require.True(t, bytes.Equal(want, got))
	RequirePoint(t, g, held, p.Images(held))

	require.NoError(t, g.Unpin(ctx, held, "downstream"))
	pins, err := g.Pins(ctx)
	require.NoError(t, err)
	require.Len(t, pins, 1, "the clone's pin")
	require.NoError(t, c.Discard(ctx))
	pts, err = g.Points(ctx)
	require.NoError(t, err)
	require.Len(t, pts, 1)
	pins, err = g.Pins(ctx)
	require.NoError(t, err)
	require.Empty(t, pins)
}

func testChangedBlocks(t *testing.T, st checkpoint.Store) {
	ctx := context.Background()
	p := NewPrimary("vm1", 8, 16<<10, 256<<10)
	p.Step = 20 * time.Minute
	g := newGroup(t, st, p, checkpoint.Retention{Additional: 2})
	for range 9 {
		applyOK(t, g, p.Next(Change{Blocks: 3, Pages: true, Zeros: true}))
	}
	pts, err := g.Points(ctx)
	require.NoError(t, err)
	geo := p.Spec.Geometries()[0]
	for i := range pts {
		for j := i + 1; j < len(pts); j++ {
			sets, err := g.ChangedBlocks(ctx, pts[i].ID, pts[j].ID)
			require.NoError(t, err)
			a, b := p.Images(pts[i].ID)[0], p.Images(pts[j].ID)[0]
			for blk := range geo.Blocks() {
				off, n := geo.BlockBounds(blk)
				if !bytes.Equal(a[off:off+int64(n)], b[off:off+int64(n)]) {
					require.True(t, sets[0].Contains(blk), "block %d differs between points %d and %d", blk, i, j)
				}
			}
		}
	}
}

func testRollback(t *testing.T, st checkpoint.Store) {
	ctx := context.Background()
	p := NewPrimary("vm1", 9, 16<<10, 192<<10)
	g := newGroup(t, st, p, checkpoint.Retention{Additional: 10})
	for range 5 {
		applyOK(t, g, p.Next(Change{Blocks: 5, Pages: true, Copies: true}))
	}
	target := p.Points()[1].ID
	require.NoError(t, g.Pin(ctx, p.Latest(), "hop"))
	require.ErrorIs(t, g.Rollback(ctx, target), checkpoint.ErrPinned)
	require.NoError(t, g.Unpin(ctx, p.Latest(), "hop"))
	require.NoError(t, g.Rollback(ctx, target))
	latest, err := g.Latest(ctx)
	require.NoError(t, err)
	require.Equal(t, target, latest.ID)
	RequirePoint(t, g, target, p.Images(target))
	require.NoError(t, g.Verify(ctx, target))
	p.Reset(target)
	applyOK(t, g, p.Next(Change{Blocks: 5}))
	RequirePoint(t, g, p.Latest(), p.Images(p.Latest()))
	RequirePoint(t, g, p.Points()[0].ID, p.Points()[0].Images)
}

// writerAt is an in-memory io.WriterAt.
type writerAt struct{ b []byte }

func (w *writerAt) WriteAt(p []byte, off int64) (int, error) { return copy(w.b[off:], p), nil }

func testExport(t *testing.T, st checkpoint.Store) {
	ctx := context.Background()
	p := NewPrimary("vm1", 10, 16<<10, 128<<10, 64<<10)
	g := newGroup(t, st, p, checkpoint.Retention{Additional: 2})
	for range 3 {
		applyOK(t, g, p.Next(Change{Blocks: 4, Pages: true}))
	}
	for _, pt := range p.Points() {
		dst := []io.WriterAt{&writerAt{make([]byte, 128<<10)}, &writerAt{make([]byte, 64<<10)}}
		require.NoError(t, g.Export(ctx, pt.ID, dst))
		for i := range dst {
			require.True(t, bytes.Equal(pt.Images[i], dst[i].(*writerAt).b))
		}
	}
}
