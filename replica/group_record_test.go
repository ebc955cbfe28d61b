package replica

import (
	"errors"
	"testing"

	"github.com/blockrep/blockrep/delta"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func sampleRoleRecords(t testing.TB) []groupRecord {
	s := delta.NewSet(100)
	s.AddRange(3, 7)
	s.Add(99)
	empty := delta.NewSet(20)
	known := knownChanges(delta.PointID{4}, delta.PointID{5}, []*delta.Set{s, empty})
	if known.Kind != changesKnown {
		t.Fatalf("change map of two small sets is %d, want known", known.Kind)
	}
	return []groupRecord{
		{Meta: []byte("vm"), Failover: []byte("ip=1")},
		{Meta: []byte("vm"), Role: groupRole{State: FailedOver, Promoted: true, Point: delta.PointID{1}}},
		{Role: groupRole{State: FailedOver, Point: delta.PointID{2}, Changes: known}},
		{Failover: []byte("x"), Role: groupRole{State: FailedOver, Point: delta.PointID{2}, Changes: changeMap{Kind: changesUnknown}}},
		{Meta: []byte("seed"), Role: groupRole{State: Replicating, Changes: known}},
		{Role: groupRole{State: Replicating, Changes: changeMap{Kind: changesUnknown}}},
		{Role: groupRole{State: Replicating, Point: delta.PointID{6}, Changes: changeMap{Kind: changesUnknown, Since: delta.PointID{9}, Also: delta.PointID{8}}}},
	}
}

func TestGroupRecordRoles(t *testing.T) {
	for i, rec := range sampleRoleRecords(t) {
		b := encodeRecord(rec)
		got, err := decodeRecord(b)
		require.NoError(t, err, "record %d", i)
		if rec.Role.State == StateNone {
			rec.Role.State = Replicating
		}
		assert.Equal(t, rec.Role, got.Role, "record %d", i)
		assert.Equal(t, string(rec.Meta), string(got.Meta), "record %d", i)
		assert.Equal(t, string(rec.Failover), string(got.Failover), "record %d", i)
		meta, fo, err := decodeGroupRecord(b)
		require.NoError(t, err)
		assert.Equal(t, string(rec.Meta), string(meta))
		assert.Equal(t, string(rec.Failover), string(fo))
		v1 := len(encodeGroupRecord(rec.Meta, rec.Failover))
		for n := range len(b) {
			_, err := decodeRecord(b[:n])
			if n == v1 {
				assert.NoError(t, err, "record %d without its role section is a first-version record", i)
				continue
			}
			assert.ErrorIs(t, err, ErrProtocol, "record %d cut at %d", i, n)
		}
	}
}

func TestGroupRecordOldVersionDecodes(t *testing.T) {
	// The first version's record: magic, metadata, failover settings.
	old := []byte("BRGR1\x00\x00\x00\x02vm\x00\x00\x00\x01x")
	rec, err := decodeRecord(old)
	require.NoError(t, err)
	assert.Equal(t, Replicating, rec.Role.State)
	assert.Equal(t, changesNone, rec.Role.Changes.Kind)
	assert.Equal(t, "vm", string(rec.Meta))
	assert.Equal(t, old, encodeGroupRecord([]byte("vm"), []byte("x")), "a record without a role is written as before")
}

func TestReplaceRecordMetaKeepsRole(t *testing.T) {
	for i, rec := range sampleRoleRecords(t) {
		b, err := replaceRecordMeta(encodeRecord(rec), []byte("new meta"), []byte("new fo"))
		require.NoError(t, err)
		got, err := decodeRecord(b)
		require.NoError(t, err)
		assert.Equal(t, "new meta", string(got.Meta), "record %d", i)
		assert.Equal(t, "new fo", string(got.Failover), "record %d", i)
		want := rec.Role
		if want.State == StateNone {
			want.State = Replicating
		}
		assert.Equal(t, want, got.Role, "record %d", i)
	}
	b, err := replaceRecordMeta([]byte("raw metadata of another tool"), []byte("m"), nil)
	require.NoError(t, err)
	m, fo, err := decodeGroupRecord(b)
	require.NoError(t, err)
	assert.Equal(t, "m", string(m))
	assert.Nil(t, fo)
	_, err = replaceRecordMeta(nil, make([]byte, delta.MaxMeta+1), nil)
	assert.ErrorIs(t, err, ErrInvalidConfig)
	_, err = replaceRecordMeta(nil, nil, make([]byte, MaxFailoverSettings+1))
	assert.ErrorIs(t, err, ErrInvalidConfig)
}

func TestReplaceRecordRoleKeepsMeta(t *testing.T) {
	b := replaceRecordRole(encodeGroupRecord([]byte("vm"), []byte("ip")), groupRole{State: FailedOver, Point: delta.PointID{7}})
	rec, err := decodeRecord(b)
	require.NoError(t, err)
	assert.Equal(t, "vm", string(rec.Meta))
	assert.Equal(t, "ip", string(rec.Failover))
	assert.Equal(t, FailedOver, rec.Role.State)
	// Back to Replicating without a map: the first version's bytes.
	assert.Equal(t, encodeGroupRecord([]byte("vm"), []byte("ip")), replaceRecordRole(b, groupRole{State: Replicating}))
}

func TestChangeMapSets(t *testing.T) {
	geoms := []delta.Geometry{{Size: 100 * 4096, BlockSize: 4096}, {Size: 20 * 4096, BlockSize: 4096}}
	rec := sampleRoleRecords(t)[2]
	sets, err := rec.Role.Changes.sets(geoms)
	require.NoError(t, err)
	assert.Equal(t, int64(8), sets[0].Count())
	assert.True(t, sets[0].Contains(99))
	assert.True(t, sets[1].Empty())

	_, err = rec.Role.Changes.sets(geoms[:1])
	assert.ErrorIs(t, err, ErrProtocol, "another volume count")
	_, err = rec.Role.Changes.sets([]delta.Geometry{geoms[1], geoms[1]})
	assert.ErrorIs(t, err, ErrProtocol, "a set larger than the volume")
	_, err = rec.Role.Changes.sets([]delta.Geometry{{Size: 200 * 4096, BlockSize: 4096}, geoms[1]})
	assert.ErrorIs(t, err, ErrProtocol, "a set smaller than the volume")
	_, err = changeMap{Kind: changesUnknown}.sets(geoms)
	assert.ErrorIs(t, err, ErrProtocol)
}

// FuzzGroupRecordRole checks the decoder of records with a role section:
// no panic, ErrProtocol on refusal, a record it accepts encodes back to
// the same bytes, and its change-map sets decode (or are refused with
// ErrProtocol) against a small geometry without allocating past it.
func FuzzGroupRecordRole(f *testing.F) {
	for _, rec := range sampleRoleRecords(f) {
		f.Add(encodeRecord(rec))
	}
	f.Add([]byte("BRGR1\x00\x00\x00\x00\x00\x00\x00\x00R\x0b\x00"))
	geoms := []delta.Geometry{{Size: 100 * 4096, BlockSize: 4096}, {Size: 20 * 4096, BlockSize: 4096}}
	f.Fuzz(func(t *testing.T, b []byte) {
		rec, err := decodeRecord(b)
		if err != nil {
			if !errors.Is(err, ErrProtocol) {
				t.Fatalf("error %v does not wrap ErrProtocol", err)
			}
			return
		}
		if again := encodeRecord(rec); string(again) != string(b) {
			t.Fatalf("round trip changed the record:\n in %x\nout %x", b, again)
		}
		if rec.Role.Changes.Kind == changesKnown {
			sets, err := rec.Role.Changes.sets(geoms)
			if err != nil && !errors.Is(err, ErrProtocol) {
				t.Fatalf("sets error %v does not wrap ErrProtocol", err)
			}
			for i, s := range sets {
				if s.Len() != geoms[i].Blocks() {
					t.Fatalf("set %d over %d blocks, volume has %d", i, s.Len(), geoms[i].Blocks())
				}
			}
		}
	})
}
