package main

import (
	"bufio"
	"bytes"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestServeKilledMidSync kills the replica's serve with SIGKILL in the
// middle of a sync, ten times, at a seeded byte count of the delta the
// primary has sent or at the end of its stream (while the replica
// verifies and applies it):
// each time the store opens at a committed point — the one before the
// sync or the sync's own, byte for byte — and after serve restarts the
// next sync completes and the replica equals the image.
func TestServeKilledMidSync(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the blockrep binary")
	}
	seed := uint64(7)
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 2))
	dir := t.TempDir()
	hc := makeCerts(t, dir, "primary.test", "replica.test")
	p, r := hc["primary.test"], hc["replica.test"]
	const size = 12 << 20
	disk := filepath.Join(dir, "disk.img")
	writeImage(t, rng, disk, size)
	state := filepath.Join(dir, "state")
	store := filepath.Join(dir, "store")
	serveArgs := append([]string{"--store", store, "--allow", "primary.test"}, r.flags()...)
	srv := startServe(t, append([]string{"--listen", "127.0.0.1:0"}, serveArgs...)...)
	addr := srv.addr
	ok(t, append([]string{"enable", "--state", state, "--group", "g", "--volume", disk, "--replica", addr, "--points", "3", "--point-every", "0"}, p.flags()...)...)
	var pts []pointJSON
	okJSON(t, &pts, "points", "--store", store, "--group", "g", "--json")
	require.Len(t, pts, 1)
	committed, err := os.ReadFile(disk)
	require.NoError(t, err)
	last := pts[0].ID

	outcomes := map[string]int{}
	for round := range 10 {
		// 1 to 4 MiB of incompressible writes: a delta of several frames.
		written := int64(0)
		for range 1 + rng.IntN(4) {
			b := make([]byte, 1<<20)
			for i := range b {
				b[i] = byte(rng.Uint32())
			}
			off := rng.Int64N(size - int64(len(b)))
			writeAt(t, disk, off, b)
			written += int64(len(b))
		}
		current, err := os.ReadFile(disk)
		require.NoError(t, err)
		// Half the rounds kill mid-stream at a byte count, half at the
		// stream's end frame, while the replica verifies and applies.
		threshold := int64(-1)
		if rng.IntN(2) == 0 {
			threshold = 1 + rng.Int64N(written)
		}

		killedAt := syncKilling(t, srv, threshold, append([]string{"sync", "--state", state, "--group", "g", "--progress"}, p.flags()...))
		t.Logf("round %d: %d bytes written, serve killed after %d bytes sent (threshold %d)", round, written, killedAt, threshold)

		// With serve gone the store opens here (recovering the group):
		// its latest point is the one before the sync or the sync's.
		okJSON(t, &pts, "points", "--store", store, "--group", "g", "--json")
		require.NotEmpty(t, pts)
		latest := pts[len(pts)-1].ID
		exp := filepath.Join(dir, "export", strconv.Itoa(round))
		ok(t, "export", "--store", store, "--group", "g", "--out", exp)
		got, err := os.ReadFile(filepath.Join(exp, "disk.img"))
		require.NoError(t, err)
		if latest == last {
			outcomes["old point"]++
			require.True(t, bytes.Equal(committed, got), "round %d: the store's latest point is not the committed image", round)
		} else {
			outcomes["new point"]++
			require.True(t, bytes.Equal(current, got), "round %d: the store's new point is not the image synced", round)
		}

		// serve again on the same address; the next sync completes.
		srv = startServe(t, append([]string{"--listen", addr}, serveArgs...)...)
		var sr syncResult
		okJSON(t, &sr, append([]string{"sync", "--state", state, "--group", "g", "--json"}, p.flags()...)...)
		ok(t, "export", "--store", store, "--group", "g", "--out", exp+"-after")
		requireSameFile(t, disk, filepath.Join(exp+"-after", "disk.img"))
		committed, last = current, sr.Point
	}
	t.Logf("outcomes: %v", outcomes)

	// The primary's side: the sync process SIGKILLed at the end of its
	// stream, so the replica commits a point whose acknowledgement nobody
	// reads. The next sync builds on it — the point was recorded as
	// pending before it was announced — instead of requiring a
	// resynchronization, and the replica equals the image.
	for round := range 3 {
		b := make([]byte, 1<<20)
		for i := range b {
			b[i] = byte(rng.Uint32())
		}
		writeAt(t, disk, rng.Int64N(size-int64(len(b))), b)
		killSyncAtEnd(t, append([]string{"sync", "--state", state, "--group", "g", "--progress"}, p.flags()...))
		var st []primaryStatus
		okJSON(t, &st, "status", "--state", state, "--json")
		require.Len(t, st, 1)
		require.Equal(t, last, st[0].LastPoint, "the killed sync recorded no acknowledged point")
		var sr syncResult
		okJSON(t, &sr, append([]string{"sync", "--state", state, "--group", "g", "--json"}, p.flags()...)...)
		exp := filepath.Join(dir, "export", "primary-killed-"+strconv.Itoa(round))
		ok(t, "export", "--store", store, "--group", "g", "--out", exp)
		requireSameFile(t, disk, filepath.Join(exp, "disk.img"))
		okJSON(t, &pts, "points", "--store", store, "--group", "g", "--json")
		require.GreaterOrEqual(t, len(pts), 2)
		t.Logf("primary killed, round %d: the point before the next sync's is %s (the last acknowledged was %s)", round, pts[len(pts)-2].ID, last)
		last = sr.Point
	}
	var st []primaryStatus
	okJSON(t, &st, "status", "--state", state, "--json")
	require.Len(t, st, 1)
	assert.Equal(t, "Replicating", st[0].State.String())
	assert.Equal(t, last, st[0].LastPoint)
}

// syncKilling runs a sync with --progress and SIGKILLs serve as soon as
// the sync reports threshold bytes sent — with threshold -1, at the empty
// frame that ends the delta stream (the count repeats) — or when the sync
// ends before that. It returns the byte count at the kill.
func syncKilling(t *testing.T, srv *server, threshold int64, args []string) int64 {
	t.Helper()
	cmd := exec.Command(blockrepBinary(t), args...)
	stderr, err := cmd.StderrPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	var sent, at int64
	killed := false
	sc := bufio.NewScanner(stderr)
	for sc.Scan() {
		n, found := strings.CutPrefix(sc.Text(), "sent ")
		if !found {
			continue
		}
		prev := sent
		sent, err = strconv.ParseInt(n, 10, 64)
		require.NoError(t, err)
		if !killed && (threshold >= 0 && sent >= threshold || threshold < 0 && sent == prev) {
			srv.kill()
			killed, at = true, sent
		}
	}
	if !killed {
		srv.kill()
		at = sent
	}
	cmd.Wait() // fails or not, depending on when the kill landed
	return at
}

// killSyncAtEnd runs a sync with --progress and SIGKILLs the sync itself
// at the empty frame that ends its delta stream.
func killSyncAtEnd(t *testing.T, args []string) {
	t.Helper()
	cmd := exec.Command(blockrepBinary(t), args...)
	stderr, err := cmd.StderrPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	var sent int64
	sc := bufio.NewScanner(stderr)
	for sc.Scan() {
		n, found := strings.CutPrefix(sc.Text(), "sent ")
		if !found {
			continue
		}
		prev := sent
		sent, err = strconv.ParseInt(n, 10, 64)
		require.NoError(t, err)
		if sent == prev {
			cmd.Process.Signal(syscall.SIGKILL)
			break
		}
	}
	cmd.Wait()
}
