package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func testEnv() (*cmdEnv, *bytes.Buffer, *bytes.Buffer) {
	var out, errb bytes.Buffer
	return &cmdEnv{ctx: context.Background(), stdout: &out, stderr: &errb}, &out, &errb
}

func TestParseEnable(t *testing.T) {
	base := []string{"--state", "s", "--group", "vm1", "--volume", "/x/a.img", "--replica", "h:1", "--insecure"}
	cases := []struct {
		name  string
		extra []string
		usage string // expected usage error, "" for success
		check func(t *testing.T, f *enableFlags)
	}{
		{name: "defaults", check: func(t *testing.T, f *enableFlags) {
			assert.Equal(t, 30*time.Second, f.every)
			assert.Equal(t, 0, f.points)
			assert.Equal(t, time.Hour, f.pointEvery)
			assert.Equal(t, "network", f.initial)
			assert.Equal(t, 64<<10, f.blockSize)
			assert.Equal(t, listFlag{"/x/a.img"}, f.volumes)
		}},
		{name: "all options", extra: []string{"--volume", "/y/b.img", "--every", "5m", "--points", "24", "--point-every", "0",
			"--app-every", "4h", "--no-compress", "--initial", "media:/mnt/usb", "--block-size", "4096"},
			check: func(t *testing.T, f *enableFlags) {
				assert.Equal(t, 5*time.Minute, f.every)
				assert.Equal(t, 24, f.points)
				assert.Equal(t, time.Duration(0), f.pointEvery)
				assert.Equal(t, 4*time.Hour, f.appEvery)
				assert.True(t, f.noCompress)
				assert.Equal(t, "media:/mnt/usb", f.initial)
				assert.Equal(t, 4096, f.blockSize)
				assert.Len(t, f.volumes, 2)
			}},
		{name: "seed", extra: []string{"--initial", "seed"}},
		{name: "later", extra: []string{"--initial", "later"}},
		{name: "frequency too short", extra: []string{"--every", "10s"}, usage: "at least 30s"},
		{name: "negative points", extra: []string{"--points", "-1"}, usage: "must not be negative"},
		{name: "bad initial", extra: []string{"--initial", "tape"}, usage: "want network, media:DIR, seed or later"},
		{name: "media without dir", extra: []string{"--initial", "media:"}, usage: "needs the directory"},
		{name: "same base name", extra: []string{"--volume", "/z/a.img"}, usage: "two volumes are named"},
		{name: "bad block size", extra: []string{"--block-size", "1000"}, usage: "--block-size 1000"},
		{name: "bad group", extra: []string{"--group", "../etc"}, usage: "--group"},
		{name: "tls and insecure", extra: []string{"--cert", "c.pem"}, usage: "exclude each other"},
		{name: "positional", extra: []string{"extra"}, usage: `unexpected argument "extra"`},
		{name: "unknown flag", extra: []string{"--colour"}, usage: "flag provided but not defined"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			env, _, _ := testEnv()
			f, err := parseEnable(env, append(append([]string{}, base...), c.extra...))
			if c.usage != "" {
				var ue *usageError
				require.ErrorAs(t, err, &ue)
				assert.Contains(t, err.Error(), c.usage)
				return
			}
			require.NoError(t, err)
			if c.check != nil {
				c.check(t, f)
			}
		})
	}
	t.Run("missing", func(t *testing.T) {
		for _, drop := range []string{"--state", "--group", "--volume", "--replica"} {
			var args []string
			for i := 0; i < len(base); i += 2 {
				if base[i] == drop {
					continue
				}
				args = append(args, base[i])
				if base[i] != "--insecure" {
					args = append(args, base[i+1])
				} else {
					i--
				}
			}
			env, _, _ := testEnv()
			_, err := parseEnable(env, args)
			require.Error(t, err, drop)
			assert.Contains(t, err.Error(), drop+" is required")
		}
	})
	t.Run("no tls choice", func(t *testing.T) {
		env, _, _ := testEnv()
		_, err := parseEnable(env, base[:len(base)-1])
		assert.ErrorContains(t, err, "--cert, --key and --ca are required")
	})
}

func TestParseFailover(t *testing.T) {
	cases := []struct {
		args  []string
		usage string
	}{
		{[]string{"--store", "d", "--group", "g"}, ""},
		{[]string{"--store", "d", "--group", "g", "--point", "latest-app"}, ""},
		{[]string{"--store", "d", "--group", "g", "--point", "00112233445566778899aabbccddeeff"}, ""},
		{[]string{"--store", "d", "--group", "g", "--test", "--out", "o"}, ""},
		{[]string{"--store", "d", "--group", "g", "--complete"}, ""},
		{[]string{"--store", "d", "--group", "g", "--cancel"}, ""},
		{[]string{"--store", "d", "--group", "g", "--stop-test"}, ""},
		{[]string{"--planned", "--state", "s", "--group", "g", "--reverse-to", "h:1"}, ""},
		{[]string{"--store", "d", "--group", "g", "--test"}, "--test needs --out"},
		{[]string{"--store", "d", "--group", "g", "--complete", "--cancel"}, "exclude each other"},
		{[]string{"--store", "d", "--group", "g", "--cancel", "--point", "latest-app"}, "go with starting a failover"},
		{[]string{"--store", "d", "--group", "g", "--point", "yesterday"}, `--point "yesterday"`},
		{[]string{"--group", "g"}, "--store is required"},
		{[]string{"--store", "d"}, "--group is required"},
		{[]string{"--planned", "--group", "g"}, "--planned needs exactly one of --state"},
		{[]string{"--planned", "--store", "d", "--group", "g"}, ""},
	}
	for _, c := range cases {
		t.Run(strings.Join(c.args, " "), func(t *testing.T) {
			env, _, _ := testEnv()
			_, err := parseFailover(env, c.args)
			if c.usage == "" {
				assert.NoError(t, err)
				return
			}
			var ue *usageError
			require.ErrorAs(t, err, &ue)
			assert.Contains(t, err.Error(), c.usage)
		})
	}
}

func TestParseServeAndAllow(t *testing.T) {
	env, _, _ := testEnv()
	f, err := parseServe(env, []string{"--store", "d", "--listen", ":0", "--allow", "hv1.example", "--allow", "hv2.example=vm-*", "--insecure"})
	require.NoError(t, err)
	entries, err := parseAllow(f.allow)
	require.NoError(t, err)
	require.Len(t, entries, 2)
	assert.Equal(t, "hv1.example", entries[0].Peer)
	assert.Equal(t, "*", entries[0].Group)
	assert.Equal(t, "vm-*", entries[1].Group)
	assert.Equal(t, ".", entries[1].Storage)

	for _, bad := range [][]string{
		{"--listen", ":0", "--insecure"},
		{"--store", "d", "--insecure"},
		{"--store", "d", "--listen", ":0", "--allow", "h=[", "--insecure"},
		{"--store", "d", "--listen", ":0"},
	} {
		_, err := parseServe(env, bad)
		assert.Error(t, err, "%v", bad)
	}
}

// TestRunExitStatus checks the contract of errors: one line on stderr,
// exit status 2 for usage errors and 1 for others, 0 for --help.
func TestRunExitStatus(t *testing.T) {
	dir := t.TempDir()
	cases := []struct {
		args   []string
		code   int
		stderr string
	}{
		{nil, 2, "usage: blockrep COMMAND"},
		{[]string{"frobnicate"}, 2, `unknown command "frobnicate"`},
		{[]string{"sync", "--group", "g"}, 2, "blockrep sync: --state is required (see blockrep sync --help)\n"},
		{[]string{"points", "--store", dir + "/missing", "--group", "g"}, 1, "no such file or directory"},
		{[]string{"status", "--state", dir + "/s", "--store", dir + "/d"}, 2, "give exactly one of --state and --store"},
		{[]string{"sync", "--state", dir, "--group", "nope"}, 1, "no such group in the state directory"},
		{[]string{"export", "--store", dir, "--group", "g", "--out", dir + "/o", "--point", "latest-app"}, 2, "--point: an id or latest"},
	}
	for _, c := range cases {
		t.Run(strings.Join(c.args, " "), func(t *testing.T) {
			var out, errb bytes.Buffer
			code := run(context.Background(), c.args, &out, &errb)
			assert.Equal(t, c.code, code)
			assert.Contains(t, errb.String(), c.stderr)
			if c.code == 1 {
				assert.Equal(t, 1, strings.Count(errb.String(), "\n"), "one line: %q", errb.String())
			}
		})
	}
	for _, c := range commands {
		t.Run(c.name+" --help", func(t *testing.T) {
			var out, errb bytes.Buffer
			assert.Equal(t, 0, run(context.Background(), []string{c.name, "--help"}, &out, &errb))
			assert.Contains(t, out.String(), "usage: blockrep "+c.name)
			assert.Contains(t, out.String(), "flags:")
			assert.Empty(t, errb.String())
		})
	}
}
