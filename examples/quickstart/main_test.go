package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// quickArgs runs the story small and fast: testSize (4 MiB + 1 MiB, less
// under the race detector), cycles back to back while the writer writes 400
// blocks a second.
func quickArgs(tmp string, extra ...string) []string {
	return append([]string{"-size", testSize, "-cycles", "3", "-every", "0", "-writes", "400", "-seed", "42", "-tmp", tmp}, extra...)
}

// The whole story runs, passes every check, prints every step, and keeps
// its directory with -keep.
func TestQuickstartTellsTheWholeStory(t *testing.T) {
	tmp := t.TempDir()
	var out, errOut bytes.Buffer
	code := run(context.Background(), quickArgs(tmp, "-keep"), &out, &errOut)
	t.Log(out.String())
	require.Equal(t, 0, code, "stderr: %s", errOut.String())
	assert.Empty(t, errOut.String())

	text := out.String()
	for _, want := range []string{
		"blockrep quickstart: a primary, a replica and an extended replica in this process, seed 42.",
		"volumes   " + testTotal + " of a group of 2 volumes",
		"(seed 42,",
		"hosts     a CA and 3 certificates made, mutual TLS 1.3",
		"enable    group vm-quickstart on hv1 → hv2",
		"initial   replication hv1 → hv2",
		"100%",
		"✓ hv2's first point, read back from its store",
		"extend    hv2 → hv3",
		"initial copy: ",
		"cycle 1   hv1 → hv2",
		"cycle 3   hv1 → hv2",
		"3 points coalesced",
		"points    ",
		"✓ hv2's latest point",
		"✓ hv3's latest point",
		"test      failover on hv2 to point",
		"✓ test failover's clone",
		"✓ the point itself, untouched by the clone's writes",
		"test      failover stopped, clone discarded; group Replicating",
		"planned   failover hv1 → hv2",
		"✓ hv1's volumes as the writer stopped",
		"✓ the final point is hv1's last image",
		"hv2 heard (OnPromoted): group vm-quickstart promoted, reverse toward",
		"hv1's relationship: PreparedForFailover; hv2's group: FailedOver",
		"demote    hv1",
		"✓ hv1's store, read back",
		"reverse   hv2 → hv1",
		"✓ hv2's volumes, the new primary's",
		"blocks: the 0 that differ between the two sides' images",
		"first sync [",
		"✓ no resynchronization",
		"cycle 9   hv2 → hv1",
		"unplanned failover on hv1 to the older point",
		"✓ hv2's next cycle is refused",
		"cancel    the failover",
		"✓ chain exactly as before",
		"lost      hv2 for good",
		"✓ hv2's volumes as it stopped",
		"unplanned failover again on hv1",
		"complete  the failover",
		"✓ the committed point, read back from the store",
		"back      hv2 returns and demotes itself",
		"✓ hv2's store, read back",
		"reverse   hv1 → hv2",
		"✓ hv1's volumes, the new primary's",
		"✓ hv2's store after the first cycle, read back",
		"last      check",
		"extended  hv2 is a replica again",
		"✓ hv3's latest point, read back from its store",
		"✓ hv1's volumes, the primary's now",
		"stats     hv1 → hv2",
		"health    hv1 → hv2: Normal",
		"extended  hv2 → hv3: ",
		"kept      ",
		"OK: every step verified by content hash",
	} {
		assert.Contains(t, text, want)
	}
	assert.NotContains(t, text, "         ✗ ", "no check failed")

	// -keep left the run's directory: volumes, stores and certificates.
	runs, err := filepath.Glob(filepath.Join(tmp, "blockrep-quickstart-*"))
	require.NoError(t, err)
	require.Len(t, runs, 1)
	for _, p := range []string{"volumes/system.img", "volumes/data.img", "certs/ca.pem", "certs/hv1.pem", "stores/hv2", "stores/hv3"} {
		_, err := os.Stat(filepath.Join(runs[0], p))
		assert.NoError(t, err, p)
	}
}

// A byte flipped in a replica's volume file between two steps is found by
// the next verification: the run prints the difference, exits 1, and still
// removes its directory.
func TestQuickstartCatchesACorruptReplica(t *testing.T) {
	tests := []struct {
		after string // the step after which the byte is flipped
		host  string // whose store
		want  string // the check that finds it
	}{
		// hv2's latest point is read back in the next step.
		{after: "cycles", host: "hv2", want: "✗ hv2's latest point"},
		// hv1 is hv2's replica then; no cycle is applied to it before
		// the unplanned failover on it reads its points.
		{after: "planned-failover", host: "hv1", want: "✗ "},
	}
	for _, tt := range tests {
		t.Run(tt.after+"/"+tt.host, func(t *testing.T) {
			tmp := t.TempDir()
			var out, errOut bytes.Buffer
			opt, err := parseOptions(quickArgs(tmp), 1, &errOut)
			require.NoError(t, err)
			flipped := false
			opt.afterStep = func(step string, dirs storyDirs) {
				if step != tt.after {
					return
				}
				vols, err := filepath.Glob(filepath.Join(dirs.Stores[tt.host], "groups", groupID, "vol-000.img"))
				require.NoError(t, err)
				require.Len(t, vols, 1, "%s's first volume file", tt.host)
				flipByte(t, vols[0], 4096+17)
				flipped = true
			}
			code := runStory(context.Background(), opt, &out, &errOut)
			t.Log(out.String())
			require.True(t, flipped, "the hook ran")
			assert.Equal(t, 1, code)
			text := out.String()
			assert.Contains(t, text, tt.want)
			assert.Contains(t, text, "1 blocks of system.img differ, the first at 0 B")
			assert.Contains(t, text, "FAILED after")
			assert.Contains(t, text, "content differs")
			assert.NotContains(t, text, "OK:")
			left, err := os.ReadDir(tmp)
			require.NoError(t, err)
			assert.Empty(t, left, "the run's directory is removed on failure too")
		})
	}
}

func flipByte(t *testing.T, path string, off int64) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	require.NoError(t, err)
	defer f.Close()
	b := make([]byte, 1)
	_, err = f.ReadAt(b, off)
	require.NoError(t, err)
	b[0] ^= 0xFF
	_, err = f.WriteAt(b, off)
	require.NoError(t, err)
}

func TestOptions(t *testing.T) {
	tests := []struct {
		args    []string
		wantErr string
		check   func(t *testing.T, o options)
	}{
		{args: nil, check: func(t *testing.T, o options) {
			assert.Equal(t, int64(256<<20), o.Size)
			assert.Equal(t, 8, o.Cycles)
			assert.Equal(t, uint64(7), o.Seed, "the seed given to parseOptions")
			assert.False(t, o.Keep)
		}},
		{args: []string{"-size", "8MiB", "-seed", "9", "-keep", "-cycles", "4"}, check: func(t *testing.T, o options) {
			assert.Equal(t, int64(8<<20), o.Size)
			assert.Equal(t, uint64(9), o.Seed)
			assert.True(t, o.Keep)
			assert.Equal(t, 4, o.Cycles)
		}},
		{args: []string{"-size", "1KiB"}, wantErr: "outside 256 KiB..64 GiB"},
		{args: []string{"-size", "lots"}, wantErr: "want a number and a unit"},
		{args: []string{"-cycles", "2"}, wantErr: "-cycles 2 is outside 3..10000"},
		{args: []string{"-every", "-1s"}, wantErr: "-every -1s is outside"},
		{args: []string{"extra"}, wantErr: "unexpected arguments"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			var stderr bytes.Buffer
			o, err := parseOptions(tt.args, 7, &stderr)
			if tt.wantErr != "" {
				require.ErrorIs(t, err, errUsage)
				assert.Contains(t, err.Error(), tt.wantErr)
				return
			}
			require.NoError(t, err)
			tt.check(t, o)
		})
	}
}

func TestParseSize(t *testing.T) {
	tests := []struct {
		in   string
		want int64
		bad  bool
	}{
		{in: "65536", want: 65536},
		{in: "4MiB", want: 4 << 20},
		{in: "4mb", want: 4 << 20},
		{in: "1.5 GiB", want: 3 << 29},
		{in: "256k", want: 256 << 10},
		{in: "100g", want: 100 << 30},
		{in: "2TiB", bad: true},
		{in: "", bad: true},
		{in: "MiB", bad: true},
		{in: "4 parsecs", bad: true},
		{in: "-4MiB", bad: true},
		{in: "1PiB", bad: true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := parseSize(tt.in)
			if tt.bad {
				assert.Error(t, err)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
		})
	}
}

// run exits 2 for a flag it does not know, printing why on stderr.
func TestBadFlagExits2(t *testing.T) {
	var out, errOut bytes.Buffer
	assert.Equal(t, 2, run(context.Background(), []string{"-no-such-flag"}, &out, &errOut))
	assert.Contains(t, errOut.String(), "flag provided but not defined: -no-such-flag")
	assert.Empty(t, out.String())
}

// -help prints the usage, every flag with it, and exits 0.
func TestHelpExits0(t *testing.T) {
	var out, errOut bytes.Buffer
	assert.Equal(t, 0, run(context.Background(), []string{"-help"}, &out, &errOut))
	for _, f := range []string{"-keep", "-seed", "-size", "-cycles", "-every", "-writes", "-tmp"} {
		assert.Contains(t, errOut.String(), "  "+f)
	}
	assert.Empty(t, out.String())
}

// A run interrupted (SIGINT cancels main's context) stops its hosts, removes
// its directory and exits 130.
func TestInterruptedRunCleansUp(t *testing.T) {
	tmp := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var out, errOut bytes.Buffer
	opt, err := parseOptions(quickArgs(tmp), 1, &errOut)
	require.NoError(t, err)
	opt.afterStep = func(step string, _ storyDirs) {
		if step == "initial" {
			cancel()
		}
	}
	assert.Equal(t, 130, runStory(ctx, opt, &out, &errOut))
	assert.Contains(t, out.String(), "interrupted after")
	assert.NotContains(t, out.String(), "forward   hv2 → hv3")
	assert.NotContains(t, out.String(), "OK:")
	left, err := os.ReadDir(tmp)
	require.NoError(t, err)
	assert.Empty(t, left)
}

// parseSize takes any string without panicking, and what it accepts is a
// byte count within its bound; a plain number of bytes comes back as itself.
func FuzzParseSize(f *testing.F) {
	for _, s := range []string{"4MiB", "1.5 GiB", "65536", "", "MiB", "-1", "1e9", "0.0000001k", "99999999999999999999T", ".", "1..2m"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n, err := parseSize(s)
		if err != nil {
			return
		}
		if n < 0 || n > maxSize*4 {
			t.Fatalf("parseSize(%q) = %d, outside 0..%d", s, n, int64(maxSize*4))
		}
		back, err := parseSize(strconv.FormatInt(n, 10))
		if err != nil || back != n {
			t.Fatalf("parseSize(%d) = %d, %v", n, back, err)
		}
	})
}
