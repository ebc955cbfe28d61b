package main

import (
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// writeImage creates an image file of size bytes: random data in the first
// third, text-like data in the second, zeros after.
func writeImage(t *testing.T, rng *rand.Rand, path string, size int) {
	t.Helper()
	b := make([]byte, size)
	for i := range b[:size/3] {
		b[i] = byte(rng.Uint32())
	}
	line := []byte("the quick brown fox jumps over the lazy dog 0123456789\n")
	for i := size / 3; i < 2*size/3; i++ {
		b[i] = line[i%len(line)]
	}
	require.NoError(t, os.WriteFile(path, b, 0o644))
}

// randomWrites writes n random runs of 1..16 KiB into the file, as a
// program writing its own image would, and returns the 64 KiB blocks
// touched.
func randomWrites(t *testing.T, rng *rand.Rand, path string, size int64, n int) map[int64]bool {
	t.Helper()
	touched := map[int64]bool{}
	for range n {
		l := 1 + rng.Int64N(16<<10)
		off := rng.Int64N(size - l)
		b := make([]byte, l)
		for i := range b {
			b[i] = byte(rng.Uint32()) | 1
		}
		writeAt(t, path, off, b)
		for blk := off >> 16; blk <= (off+l-1)>>16; blk++ {
			touched[blk] = true
		}
	}
	return touched
}

// TestEndToEnd drives two hosts over mutual TLS on loopback as an operator
// would: enable, sync after ordinary file writes, export and compare,
// test failover, unplanned failover and cancel, status.
func TestEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the blockrep binary")
	}
	seed := uint64(20261125)
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 1))
	dir := t.TempDir()
	hc := makeCerts(t, dir, "hosta.test", "hostb.test", "intruder.test")
	a, b := hc["hosta.test"], hc["hostb.test"]

	// Host A: the primary's two image files and its state directory.
	disk := filepath.Join(dir, "a", "disk.img")
	logs := filepath.Join(dir, "a", "logs.img")
	require.NoError(t, os.MkdirAll(filepath.Dir(disk), 0o755))
	writeImage(t, rng, disk, 3<<20)
	writeImage(t, rng, logs, 1<<20+12345)
	state := filepath.Join(dir, "a", "state")

	// Host B: serve, authorizing only host A for groups vm*.
	storeB := filepath.Join(dir, "b", "store")
	srvB := startServe(t, append([]string{"--store", storeB, "--listen", "127.0.0.1:0", "--allow", "hosta.test=vm*"}, b.flags()...)...)

	// One process per store: a second serve is refused.
	r := cli(t, append([]string{"serve", "--store", storeB, "--listen", "127.0.0.1:0"}, b.flags()...)...)
	assert.Equal(t, 1, r.code)
	assert.Contains(t, r.stderr, "in use by another blockrep process")

	// An unauthorized primary gets nothing.
	in := hc["intruder.test"]
	r = cli(t, append([]string{"enable", "--state", filepath.Join(dir, "intruder"), "--group", "vm1", "--volume", disk,
		"--replica", srvB.addr}, in.flags()...)...)
	assert.Equal(t, 1, r.code)
	assert.Contains(t, r.stderr, "unauthorized")
	// Nor does host A for a group outside its pattern.
	r = cli(t, append([]string{"enable", "--state", filepath.Join(dir, "a", "other"), "--group", "db1", "--volume", disk,
		"--replica", srvB.addr}, a.flags()...)...)
	assert.Equal(t, 1, r.code)
	assert.Contains(t, r.stderr, "unauthorized")

	// Enable with the initial copy over the network.
	out := ok(t, append([]string{"enable", "--state", state, "--group", "vm1", "--volume", disk, "--volume", logs,
		"--replica", srvB.addr, "--points", "4", "--point-every", "0"}, a.flags()...)...)
	assert.Contains(t, out, "initial replication done")
	var pts []pointJSON
	okJSON(t, &pts, "points", "--store", storeB, "--group", "vm1", "--json")
	require.Len(t, pts, 1)

	// Ordinary writes by another program, then one cycle.
	touched := randomWrites(t, rng, disk, 3<<20, 12)
	var sr syncResult
	okJSON(t, &sr, "sync", "--state", state, "--group", "vm1", "--json")
	assert.Equal(t, int64(len(touched)), sr.Blocks)
	assert.Positive(t, sr.BytesSent)
	assert.False(t, sr.Initial)

	// The replica's latest point is the files, byte for byte.
	exp := filepath.Join(dir, "export1")
	ok(t, "export", "--store", storeB, "--group", "vm1", "--out", exp)
	requireSameFile(t, disk, filepath.Join(exp, "disk.img"))
	requireSameFile(t, logs, filepath.Join(exp, "logs.img"))
	okJSON(t, &pts, "points", "--store", storeB, "--group", "vm1", "--json")
	require.Len(t, pts, 2)
	assert.Equal(t, sr.Point, pts[1].ID)
	assert.Equal(t, "crash", pts[1].Kind)
	assert.Equal(t, sr.Blocks, pts[1].Blocks)
	assert.Equal(t, sr.BytesSent, pts[1].Bytes)
	firstPoint := pts[0].ID

	// Suspend stops cycles until resume; both are local to host A.
	ok(t, "suspend", "--state", state, "--group", "vm1")
	r = cli(t, "sync", "--state", state, "--group", "vm1")
	assert.Equal(t, 1, r.code)
	assert.Contains(t, r.stderr, "replication is suspended")
	var pst []primaryStatus
	okJSON(t, &pst, "status", "--state", state, "--json")
	require.Len(t, pst, 1)
	assert.Equal(t, "Suspended", pst[0].State.String())
	assert.Equal(t, "Warning", pst[0].Health.Level.String())
	ok(t, "resume", "--state", state, "--group", "vm1")

	// run cycles every group until interrupted: its status line names
	// the point of the first cycle.
	randomWrites(t, rng, logs, 1<<20, 2)
	runPoint := runUntilCycle(t, "run", "--state", state)
	okJSON(t, &pts, "points", "--store", storeB, "--group", "vm1", "--json")
	require.Len(t, pts, 3)
	assert.True(t, strings.HasPrefix(pts[2].ID, runPoint), "run's point %s is the latest %s", runPoint, pts[2].ID)
	ok(t, "export", "--store", storeB, "--group", "vm1", "--out", filepath.Join(dir, "export-run"))
	requireSameFile(t, logs, filepath.Join(dir, "export-run", "logs.img"))
	diskAtFirst := filepath.Join(exp, "disk-first.img")

	// Test failover on the older point while replication goes on.
	tf := filepath.Join(dir, "testfailover")
	ok(t, "failover", "--store", storeB, "--group", "vm1", "--test", "--point", firstPoint, "--out", tf)
	ok(t, "export", "--store", storeB, "--group", "vm1", "--point", firstPoint, "--out", filepath.Join(exp, "first"))
	require.NoError(t, os.Rename(filepath.Join(exp, "first", "disk.img"), diskAtFirst))
	requireSameFile(t, diskAtFirst, filepath.Join(tf, "disk.img"))
	var rst []replicaStatus
	okJSON(t, &rst, "status", "--store", storeB, "--group", "vm1", "--json")
	require.Len(t, rst, 1)
	assert.Equal(t, "TestFailoverRunning", rst[0].State.String())
	randomWrites(t, rng, logs, 1<<20, 3)
	okJSON(t, &sr, "sync", "--state", state, "--group", "vm1", "--json")
	ok(t, "failover", "--store", storeB, "--group", "vm1", "--stop-test")
	ok(t, "export", "--store", storeB, "--group", "vm1", "--out", filepath.Join(dir, "export2"))
	requireSameFile(t, logs, filepath.Join(dir, "export2", "logs.img"))

	// Unplanned failover: the primary's cycles are refused until cancel.
	ok(t, "failover", "--store", storeB, "--group", "vm1", "--point", "latest")
	r = cli(t, "sync", "--state", state, "--group", "vm1")
	assert.Equal(t, 1, r.code)
	assert.Contains(t, r.stderr, "failed over on the replica")
	ok(t, "failover", "--store", storeB, "--group", "vm1", "--cancel")
	randomWrites(t, rng, disk, 3<<20, 2)
	okJSON(t, &sr, "sync", "--state", state, "--group", "vm1", "--json")
	ok(t, "export", "--store", storeB, "--group", "vm1", "--out", filepath.Join(dir, "export3"))
	requireSameFile(t, disk, filepath.Join(dir, "export3", "disk.img"))

	// Status on both hosts.
	okJSON(t, &pst, "status", "--state", state, "--json")
	require.Len(t, pst, 1)
	assert.Equal(t, "vm1", pst[0].Group)
	assert.Equal(t, "Replicating", pst[0].State.String())
	assert.Equal(t, "Normal", pst[0].Health.Level.String())
	assert.Equal(t, sr.Point, pst[0].LastPoint)
	assert.Equal(t, int64(5), pst[0].Statistics.SuccessfulCycles)
	assert.Equal(t, int64(1), pst[0].Statistics.Errors) // the sync refused by the failover (one refused while suspended is no cycle)
	okJSON(t, &rst, "status", "--store", storeB, "--json")
	require.Len(t, rst, 1)
	assert.Equal(t, "Replicating", rst[0].State.String())
	assert.Equal(t, sr.Point, rst[0].LatestPoint)
	assert.True(t, rst[0].Served)

	// Planned failover: a final cycle, B promoted, A keeps its files as
	// B's replica in A/state/store, served at the address B replicates
	// back to.
	randomWrites(t, rng, disk, 3<<20, 4)
	addrA := freeAddr(t)
	var pr plannedResult
	okJSON(t, &pr, "failover", "--planned", "--state", state, "--group", "vm1", "--reverse-to", addrA, "--json")
	assert.Positive(t, pr.Blocks)
	storeA := filepath.Join(state, "store")
	assert.Equal(t, storeA, pr.Store)
	r = cli(t, "sync", "--state", state, "--group", "vm1")
	assert.Equal(t, 1, r.code)
	assert.Contains(t, r.stderr, "handed over")
	srvA := startServe(t, append([]string{"--store", storeA, "--listen", addrA, "--allow", "hostb.test"}, a.flags()...)...)

	// Nothing was lost: both sides hold the primary's last image.
	ok(t, "export", "--store", storeB, "--group", "vm1", "--out", filepath.Join(dir, "export4"))
	requireSameFile(t, disk, filepath.Join(dir, "export4", "disk.img"))
	requireSameFile(t, logs, filepath.Join(dir, "export4", "logs.img"))
	ok(t, "export", "--store", storeA, "--group", "vm1", "--out", filepath.Join(dir, "export5"))
	requireSameFile(t, disk, filepath.Join(dir, "export5", "disk.img"))
	requireSameFile(t, logs, filepath.Join(dir, "export5", "logs.img"))

	// Reverse: B's serve replicates the group to A; a cycle now.
	okJSON(t, &sr, "sync", "--store", storeB, "--group", "vm1", "--json")
	assert.Equal(t, int64(0), sr.Blocks, "nothing was written on B since the promotion")
	okJSON(t, &pts, "points", "--store", storeA, "--group", "vm1", "--json")
	require.NotEmpty(t, pts)
	assert.Equal(t, sr.Point, pts[len(pts)-1].ID)

	// Status on both hosts, in JSON.
	okJSON(t, &rst, "status", "--store", storeB, "--group", "vm1", "--json")
	require.Len(t, rst, 1)
	assert.Equal(t, "FailedOver", rst[0].State.String())
	require.NotNil(t, rst[0].Reverse)
	assert.Equal(t, addrA, rst[0].Reverse.Replica)
	assert.Equal(t, "Replicating", rst[0].Reverse.State.String())
	assert.Equal(t, "Normal", rst[0].Reverse.Health.Level.String())
	assert.GreaterOrEqual(t, rst[0].Reverse.Statistics.SuccessfulCycles, int64(1))
	assert.Equal(t, sr.Point, rst[0].Reverse.Statistics.LastPoint)
	okJSON(t, &rst, "status", "--store", storeA, "--json")
	require.Len(t, rst, 1)
	assert.Equal(t, "Replicating", rst[0].State.String())
	assert.Equal(t, sr.Point, rst[0].LatestPoint)
	okJSON(t, &pst, "status", "--state", state, "--json")
	require.Len(t, pst, 1)
	assert.Equal(t, "PreparedForFailover", pst[0].State.String())
	assert.Equal(t, pr.Point, pst[0].LastPoint)

	// Unplanned failover and reverse, with a second group: B fails over
	// to its latest point and completes; A writes meanwhile (it did not
	// know), then keeps its files as B's replica; B replicates back and
	// only what differs crosses.
	state2 := filepath.Join(dir, "a", "state2")
	ok(t, append([]string{"enable", "--state", state2, "--group", "vm2", "--volume", logs, "--replica", srvB.addr}, a.flags()...)...)
	fo := filepath.Join(dir, "failover2")
	r = cli(t, "failover", "--store", storeB, "--group", "vm2", "--point", "latest-app")
	assert.Equal(t, 1, r.code)
	assert.Contains(t, r.stderr, "no such recovery point")
	ok(t, "failover", "--store", storeB, "--group", "vm2", "--point", "latest", "--out", fo)
	requireSameFile(t, logs, filepath.Join(fo, "logs.img"))
	ok(t, "failover", "--store", storeB, "--group", "vm2", "--complete")
	touched2 := randomWrites(t, rng, logs, 1<<20, 3)
	var rev map[string]string
	okJSON(t, &rev, "reverse", "--state", state2, "--group", "vm2", "--json")
	storeA2 := filepath.Join(state2, "store")
	assert.Equal(t, storeA2, rev["store"])
	srvA2 := startServe(t, append([]string{"--store", storeA2, "--listen", "127.0.0.1:0", "--allow", "hostb.test"}, a.flags()...)...)
	var rr reverseResult
	okJSON(t, &rr, "reverse", "--store", storeB, "--group", "vm2", "--to", srvA2.addr, "--json")
	assert.Equal(t, "Replicating", rr.State)
	var sr2 syncResult
	okJSON(t, &sr2, "sync", "--store", storeB, "--group", "vm2", "--json")
	assert.Equal(t, int64(len(touched2)), sr2.Blocks, "only the blocks A wrote after the failover differ")
	ok(t, "export", "--store", storeA2, "--group", "vm2", "--out", filepath.Join(dir, "export6"))
	requireSameFile(t, filepath.Join(fo, "logs.img"), filepath.Join(dir, "export6", "logs.img"))
	srvA2.stop(t)

	// A restarted serve resumes its reversed groups: the first sync of
	// vm1 compares hashes with A (nothing differs) and cycles go on.
	srvB.stop(t)
	srvB = startServe(t, append([]string{"--store", storeB, "--listen", srvB.addr, "--allow", "hosta.test=vm*"}, b.flags()...)...)
	okJSON(t, &sr, "sync", "--store", storeB, "--group", "vm1", "--json")
	assert.Equal(t, int64(0), sr.Blocks)
	okJSON(t, &sr, "sync", "--store", storeB, "--group", "vm1", "--json")
	okJSON(t, &rst, "status", "--store", storeA, "--json")
	assert.Equal(t, sr.Point, rst[0].LatestPoint)

	// Both serves stop cleanly; a store reads the same without its serve.
	srvA.stop(t)
	srvB.stop(t)
	okJSON(t, &rst, "status", "--store", storeA, "--json")
	assert.False(t, rst[0].Served)
	assert.Equal(t, sr.Point, rst[0].LatestPoint)
}

// freeAddr returns a loopback address with a port free a moment ago, for
// a serve whose address must be known before it starts.
func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := l.Addr().String()
	require.NoError(t, l.Close())
	return addr
}
