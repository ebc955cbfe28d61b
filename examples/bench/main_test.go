package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

// TestMain lets the test binary serve as the benchmark's children: the
// program starts its children by re-running its own executable with -child.
func TestMain(m *testing.M) {
	if len(os.Args) > 2 && os.Args[1] == "-child" {
		if err := run(context.Background(), os.Args[1:], os.Stdin, os.Stdout, os.Stderr); err != nil {
			fmt.Fprintln(os.Stderr, "bench child:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	goleak.VerifyTestMain(m)
}

// TestRunTiny runs the whole program at a tiny size and checks the table's
// rows and the JSON's fields.
func TestRunTiny(t *testing.T) {
	dir := t.TempDir()
	jsonPath := filepath.Join(dir, "out.json")
	var table, stderr bytes.Buffer
	args := []string{"-size", "8MiB", "-scale-size", "64MiB", "-rounds", "1", "-dir", filepath.Join(dir, "work"), "-json-file", jsonPath}
	require.NoError(t, run(context.Background(), args, strings.NewReader(""), &table, &stderr), stderr.String())
	_, rsyncErr := exec.LookPath("rsync")
	haveRsync := rsyncErr == nil
	t.Logf("rsync on PATH: %v\n%s", haveRsync, table.String())

	b, err := os.ReadFile(jsonPath)
	require.NoError(t, err)
	var rep report
	require.NoError(t, json.Unmarshal(b, &rep))
	assert.Equal(t, int64(8<<20), rep.Size)
	assert.Equal(t, int64(64<<20), rep.ScaleSize)
	assert.Equal(t, 1, rep.Rounds)
	assert.Positive(t, rep.Cores)
	assert.NotEmpty(t, rep.Date)
	assert.Contains(t, rep.Transport, "TLS")
	assert.Equal(t, haveRsync, rep.Rsync != "")

	wantSides := map[string][]string{
		"initial": {"blockrep", "rsync", "limit", "limit: read+zstd", "limit: write+fsync"},
		"tracked": {"blockrep", "rsync", "limit"},
		"scan":    {"blockrep", "rsync"},
		"resync":  {"blockrep", "rsync"},
		"apply":   {"blockrep", "plain write+fsync"},
		"scale":   {"blockrep 64MiB", "blockrep 8MiB"},
	}
	wantRatios := map[string]int{"initial": 3, "tracked": 3, "scan": 2, "resync": 2, "apply": 1, "scale": 2}
	if !haveRsync {
		for w, sides := range wantSides {
			var keep []string
			for _, s := range sides {
				if s != "rsync" {
					keep = append(keep, s)
				}
			}
			wantSides[w] = keep
		}
		wantRatios = map[string]int{"initial": 1, "tracked": 1, "scan": 0, "resync": 0, "apply": 1, "scale": 2}
	}
	require.Len(t, rep.Workloads, len(allWorkloads))
	rows := 0
	for i, wl := range rep.Workloads {
		assert.Equal(t, allWorkloads[i], wl.Name)
		assert.NotEmpty(t, wl.Description)
		var sides []string
		for _, r := range wl.Rows {
			sides = append(sides, r.Side)
			assert.Equal(t, 1, r.Rounds, "%s %s", wl.Name, r.Side)
			assert.Positive(t, r.Time.Median, "%s %s", wl.Name, r.Side)
			assert.Equal(t, r.Time.Min, r.Time.Max, "one round: min = max")
			if strings.HasPrefix(r.Side, "blockrep") && wl.Name != "apply" {
				require.NotNil(t, r.Wire, "%s %s", wl.Name, r.Side)
				assert.Positive(t, r.Wire.Median)
			}
			if !strings.HasPrefix(r.Side, "limit") {
				require.NotNil(t, r.PeakRSS, "%s %s", wl.Name, r.Side)
				assert.Greater(t, r.PeakRSS.Max, float64(1<<20), "%s %s", wl.Name, r.Side)
			}
			rows++
		}
		assert.Equal(t, wantSides[wl.Name], sides, wl.Name)
		assert.Len(t, wl.Ratios, wantRatios[wl.Name], wl.Name)
		for _, r := range wl.Ratios {
			assert.Positive(t, r.Value, "%s %s", wl.Name, r.Name)
			assert.NotEmpty(t, r.Target)
		}
	}
	// The blockrep rows of the tracked cycle carry one block of a 4 KiB page.
	tracked := rep.Workloads[1].Rows[0]
	assert.Equal(t, int64(1), tracked.Blocks)

	// The table has the header and one line per row, in order.
	lines := strings.Split(table.String(), "\n")
	var tableRows []string
	for _, l := range lines {
		if strings.Count(l, "|") >= 10 {
			tableRows = append(tableRows, l)
		}
	}
	require.Len(t, tableRows, rows+1)
	assert.Contains(t, tableRows[0], "time median")
	k := 1
	for _, wl := range rep.Workloads {
		for _, r := range wl.Rows {
			f := strings.Split(tableRows[k], "|")
			assert.Equal(t, wl.Name, strings.TrimSpace(f[0]))
			assert.Equal(t, r.Side, strings.TrimSpace(f[1]))
			k++
		}
	}
	assert.Contains(t, table.String(), "targets (ratios of medians from this run):")
	assert.Contains(t, table.String(), "reproduce: go run ./examples/bench -size 8MiB -rounds 1")
}

func TestParseSize(t *testing.T) {
	for _, c := range []struct {
		in   string
		want int64
		err  bool
	}{
		{"1GiB", 1 << 30, false}, {"64MiB", 64 << 20, false}, {"8 MiB", 8 << 20, false}, {"512KiB", 512 << 10, false},
		{"4096", 4096, false}, {"1TiB", 1 << 40, false}, {"10B", 10, false},
		{"", 0, true}, {"1GB", 0, true}, {"-1MiB", 0, true}, {"xMiB", 0, true},
	} {
		got, err := parseSize(c.in)
		if c.err {
			assert.Error(t, err, c.in)
			continue
		}
		require.NoError(t, err, c.in)
		assert.Equal(t, c.want, got, c.in)
	}
}

func TestFlagsRejectBadValues(t *testing.T) {
	for _, args := range [][]string{
		{"-size", "1000000"},         // not a multiple of 64 KiB
		{"-size", "512KiB"},          // under 1 MiB
		{"-rounds", "0"},             // no round
		{"-workloads", "initial,xx"}, // unknown workload
		{"-size", "8MiB", "-scale-size", "4MiB"},
		{"extra"},
	} {
		_, err := parseFlags(args, io.Discard)
		assert.Error(t, err, "%q", args)
	}
	cfg, err := parseFlags([]string{"-size", "8MiB", "-workloads", "scan, tracked"}, io.Discard)
	require.NoError(t, err)
	assert.Equal(t, []string{"scan", "tracked"}, cfg.workloads)
	assert.Equal(t, int64(128<<20), cfg.scaleSize, "16 × below 1 GiB")
	cfg, err = parseFlags([]string{"-size", "1GiB"}, io.Discard)
	require.NoError(t, err)
	assert.Equal(t, int64(64<<30), cfg.scaleSize, "the issue's 64 GiB beside 1 GiB")
	assert.Equal(t, 3, cfg.rounds)
}

func TestRsyncWireBytes(t *testing.T) {
	out := "Number of files: 1\nTotal bytes sent: 1,234,567\nTotal bytes received: 89\n\nsent 1,234,567 bytes\n"
	n, err := rsyncWireBytes(out)
	require.NoError(t, err)
	assert.Equal(t, int64(1234656), n)
	_, err = rsyncWireBytes("sent 10 bytes")
	assert.Error(t, err)
}

func TestStatOf(t *testing.T) {
	assert.Equal(t, stat{Median: 2, Min: 1, Max: 9}, statOf([]float64{9, 1, 2}))
	assert.Equal(t, stat{Median: 2.5, Min: 1, Max: 4}, statOf([]float64{4, 1, 3, 2}))
	assert.Equal(t, stat{}, statOf(nil))
}

func TestMakeChangeIsDeterministicAndDistinct(t *testing.T) {
	const size = 64 << 20
	a := makeChange(7, 1, size, 100)
	b := makeChange(7, 1, size, 100)
	c := makeChange(7, 2, size, 100)
	require.Len(t, a, 100)
	seen := map[int64]bool{}
	for i, w := range a {
		assert.Equal(t, b[i].off, w.off)
		assert.Equal(t, b[i].data, w.data)
		assert.Len(t, w.data, pageSize)
		assert.Zero(t, w.off%pageSize)
		assert.Less(t, w.off, int64(size))
		assert.False(t, seen[w.off/blockSize], "block %d twice", w.off/blockSize)
		seen[w.off/blockSize] = true
		assert.NotEqual(t, make([]byte, pageSize), w.data, "a write is never all zero")
	}
	assert.NotEqual(t, a[0].off, c[0].off)
	// More blocks asked for than the volume has: every block once.
	assert.Len(t, makeChange(7, 1, 16*blockSize, 100), 16)
}

func TestCompareAtFindsTheFirstDifference(t *testing.T) {
	a := bytes.Repeat([]byte{1}, 3<<20)
	b := bytes.Clone(a)
	require.NoError(t, compareAt(bytes.NewReader(a), bytes.NewReader(b), int64(len(a))))
	b[2<<20+5] = 2
	err := compareAt(bytes.NewReader(a), bytes.NewReader(b), int64(len(a)))
	require.Error(t, err)
	assert.Contains(t, err.Error(), fmt.Sprint(2<<20+5))
}

// TestRunWithoutRsync runs the program where rsync is not on the PATH: the
// rsync rows and ratios are left out and a note says why.
func TestRunWithoutRsync(t *testing.T) {
	t.Setenv("PATH", t.TempDir())
	var out, stderr bytes.Buffer
	args := []string{"-size", "4MiB", "-rounds", "1", "-workloads", "tracked,scan", "-json"}
	require.NoError(t, run(context.Background(), args, strings.NewReader(""), &out, &stderr), stderr.String())
	var rep report
	require.NoError(t, json.Unmarshal(out.Bytes(), &rep))
	assert.Empty(t, rep.Rsync)
	require.Len(t, rep.Workloads, 2)
	assert.Equal(t, "tracked", rep.Workloads[0].Name)
	var sides []string
	for _, r := range rep.Workloads[0].Rows {
		sides = append(sides, r.Side)
	}
	assert.Equal(t, []string{"blockrep", "limit"}, sides)
	require.Len(t, rep.Workloads[0].Ratios, 1)
	assert.Equal(t, "time / limit", rep.Workloads[0].Ratios[0].Name)
	assert.Equal(t, "scan", rep.Workloads[1].Name)
	require.Len(t, rep.Workloads[1].Rows, 1)
	assert.Equal(t, "blockrep", rep.Workloads[1].Rows[0].Side)
	assert.Empty(t, rep.Workloads[1].Ratios)
	assert.Contains(t, strings.Join(rep.Notes, "\n"), "rsync is not on the PATH")
}
