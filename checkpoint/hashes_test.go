package checkpoint

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/blockrep/blockrep/delta"
)

var hashGeoms = []delta.Geometry{{Size: 1 << 20, BlockSize: 64 << 10}, {Size: 100<<10 + 1, BlockSize: 64 << 10}}

func sampleHashes(t testing.TB) []*delta.HashList {
	var lists []*delta.HashList
	for i, g := range hashGeoms {
		l, err := delta.NewHashList(g)
		require.NoError(t, err)
		for b := range g.Blocks() {
			l.Set(b, delta.Hash{byte(i), byte(b)})
		}
		lists = append(lists, l)
	}
	return lists
}

func TestHashFileRoundTrip(t *testing.T) {
	lists := sampleHashes(t)
	b, err := encodeHashes(lists)
	require.NoError(t, err)
	require.LessOrEqual(t, int64(len(b)), maxHashFileSize(hashGeoms))
	got, err := decodeHashes(b, hashGeoms)
	require.NoError(t, err)
	for i := range lists {
		require.True(t, lists[i].Equal(got[i]))
	}
	for cut := range len(b) {
		_, err := decodeHashes(b[:cut], hashGeoms)
		require.Error(t, err, "cut at %d", cut)
	}
	_, err = decodeHashes(b, hashGeoms[:1])
	require.Error(t, err)
}

func FuzzHashFile(f *testing.F) {
	b, err := encodeHashes(sampleHashes(f))
	require.NoError(f, err)
	f.Add(b)
	f.Add([]byte(hashMagic))
	f.Fuzz(func(t *testing.T, b []byte) {
		lists, err := decodeHashes(b, hashGeoms)
		if err != nil {
			return
		}
		out, err := encodeHashes(lists)
		require.NoError(t, err)
		require.Equal(t, b, out)
	})
}

func FuzzIntent(f *testing.F) {
	f.Add([]byte(`{"op":"rollback","target":"0102030405060708090a0b0c0d0e0f10"}`))
	f.Add([]byte(`{"op":"apply"}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		in, err := decodeIntent(b)
		if err != nil {
			return
		}
		require.Equal(t, opRollback, in.Op)
		require.False(t, in.Target.IsZero())
	})
}

func TestHashLogReplay(t *testing.T) {
	lists := sampleHashes(t)
	b := []byte(hashLogMagic)
	bounds := map[int]bool{len(b): true}
	b = appendHashBatch(b, []hashChangeOf{{0, 3, delta.Hash{9}}, {1, 1, delta.Hash{8}}})
	bounds[len(b)] = true
	b = appendHashBatch(b, nil)
	bounds[len(b)] = true
	b = appendHashBatch(b, []hashChangeOf{{0, 3, delta.Hash{7}}})
	require.NoError(t, replayHashLog(b, lists))
	require.Equal(t, delta.Hash{7}, lists[0].Get(3))
	require.Equal(t, delta.Hash{8}, lists[1].Get(1))
	require.Equal(t, delta.Hash{0, 2}, lists[0].Get(2))
	for cut := range len(b) {
		if bounds[cut] {
			continue // a shorter journal: the manifest's length catches it
		}
		require.Error(t, replayHashLog(b[:cut], sampleHashes(t)), "cut at %d", cut)
	}
	bad := appendHashBatch([]byte(hashLogMagic), []hashChangeOf{{2, 0, delta.Hash{}}})
	require.Error(t, replayHashLog(bad, sampleHashes(t)))
}

func FuzzHashLog(f *testing.F) {
	f.Add(appendHashBatch([]byte(hashLogMagic), []hashChangeOf{{0, 3, delta.Hash{9}}}))
	f.Add([]byte(hashLogMagic + "\xff\xff\xff\xff"))
	f.Fuzz(func(t *testing.T, b []byte) {
		lists := sampleHashes(t)
		if err := replayHashLog(b, lists); err != nil {
			return
		}
		for i, l := range lists {
			require.Equal(t, hashGeoms[i].Blocks(), l.Len())
		}
	})
}
