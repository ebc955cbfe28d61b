package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/blockrep/blockrep/transport/certs"
	"github.com/stretchr/testify/require"
)

// The end-to-end tests build the blockrep binary once (without -race, so
// that the processes stay fast under go test -race) and drive it as an
// operator would.
var (
	binOnce sync.Once
	binDir  string
	binPath string
	binErr  error
)

func blockrepBinary(t *testing.T) string {
	t.Helper()
	binOnce.Do(func() {
		binDir, binErr = os.MkdirTemp("", "blockrep-e2e-bin-")
		if binErr != nil {
			return
		}
		binPath = filepath.Join(binDir, "blockrep")
		cmd := exec.Command("go", "build", "-o", binPath, ".")
		out, err := cmd.CombinedOutput()
		if err != nil {
			binErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	require.NoError(t, binErr)
	return binPath
}

func removeBinary() {
	if binDir != "" {
		os.RemoveAll(binDir)
	}
}

// hostCerts are the PEM files of one host.
type hostCerts struct{ cert, key, ca string }

func (h hostCerts) flags() []string {
	return []string{"--cert", h.cert, "--key", h.key, "--ca", h.ca}
}

// makeCerts makes a CA and a certificate per host name (valid for
// 127.0.0.1 too, the address the hosts dial) in dir.
func makeCerts(t *testing.T, dir string, names ...string) map[string]hostCerts {
	t.Helper()
	ca, err := certs.NewCA("blockrep test CA")
	require.NoError(t, err)
	caPath := filepath.Join(dir, "ca.pem")
	require.NoError(t, ca.WritePEM(caPath, ""))
	out := map[string]hostCerts{}
	for _, n := range names {
		c, err := ca.IssueCert(n, certs.WithIPs(net.IPv4(127, 0, 0, 1)))
		require.NoError(t, err)
		h := hostCerts{cert: filepath.Join(dir, n+".pem"), key: filepath.Join(dir, n+".key"), ca: caPath}
		require.NoError(t, c.WritePEM(h.cert, h.key))
		out[n] = h
	}
	return out
}

// cliResult is one finished command.
type cliResult struct {
	code           int
	stdout, stderr string
}

// cli runs the binary and waits for it.
func cli(t *testing.T, args ...string) cliResult {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, blockrepBinary(t), args...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	res := cliResult{stdout: out.String(), stderr: errb.String()}
	if err != nil {
		ee, ok := err.(*exec.ExitError)
		require.True(t, ok, "blockrep %v: %v", args, err)
		res.code = ee.ExitCode()
	}
	return res
}

// ok runs the binary and requires success.
func ok(t *testing.T, args ...string) string {
	t.Helper()
	r := cli(t, args...)
	require.Equal(t, 0, r.code, "blockrep %s\nstdout: %s\nstderr: %s", strings.Join(args, " "), r.stdout, r.stderr)
	return r.stdout
}

// okJSON runs the binary with success and decodes its stdout into v.
func okJSON(t *testing.T, v any, args ...string) {
	t.Helper()
	out := ok(t, args...)
	require.NoError(t, json.Unmarshal([]byte(out), v), "output: %s", out)
}

// server is a running "blockrep serve".
type server struct {
	cmd  *exec.Cmd
	addr string
	done chan error
	out  *bytes.Buffer
}

// startServe starts "blockrep serve" and waits for the line that names
// its address.
func startServe(t *testing.T, args ...string) *server {
	t.Helper()
	cmd := exec.Command(blockrepBinary(t), append([]string{"serve"}, args...)...)
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	var errb bytes.Buffer
	cmd.Stderr = &errb
	require.NoError(t, cmd.Start())
	s := &server{cmd: cmd, done: make(chan error, 1), out: &errb}
	lines := make(chan string, 1)
	go func() {
		r := bufio.NewReader(stdout)
		line, _ := r.ReadString('\n')
		lines <- line
		io.Copy(io.Discard, r)
		s.done <- cmd.Wait()
	}()
	line := <-lines
	_, addr, found := strings.Cut(strings.TrimSpace(line), " on ")
	if !found {
		<-s.done
		t.Fatalf("serve did not start: %q\n%s", line, errb.String())
	}
	s.addr = addr
	t.Cleanup(func() { s.stop(t) })
	return s
}

// stop ends serve with SIGTERM (a no-op once it ended) and requires a
// clean exit.
func (s *server) stop(t *testing.T) {
	if s.cmd.ProcessState != nil || s.done == nil {
		return
	}
	s.cmd.Process.Signal(syscall.SIGTERM)
	err := <-s.done
	s.done = nil
	require.NoError(t, err, "serve: %s", s.out.String())
}

// kill ends serve with SIGKILL and waits for it to be gone.
func (s *server) kill() {
	s.cmd.Process.Signal(syscall.SIGKILL)
	<-s.done
	s.done = nil
}

// writeAt writes b into the file at off, as any program would.
func writeAt(t *testing.T, path string, off int64, b []byte) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	require.NoError(t, err)
	_, err = f.WriteAt(b, off)
	require.NoError(t, err)
	require.NoError(t, f.Close())
}

// requireSameFile requires two files to be equal byte for byte.
func requireSameFile(t *testing.T, want, got string) {
	t.Helper()
	a, err := os.ReadFile(want)
	require.NoError(t, err)
	b, err := os.ReadFile(got)
	require.NoError(t, err)
	require.Equal(t, len(a), len(b), "%s and %s differ in size", want, got)
	require.True(t, bytes.Equal(a, b), "%s and %s differ", want, got)
}

// runUntilCycle starts a long-running command ("blockrep run"), reads its
// live status line (redrawn with carriage returns) until it names the
// point of a cycle, then interrupts it and requires a clean exit. It
// returns the point's id prefix the line shows.
func runUntilCycle(t *testing.T, args ...string) string {
	t.Helper()
	cmd := exec.Command(blockrepBinary(t), args...)
	stderr, err := cmd.StderrPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	sc := bufio.NewScanner(stderr)
	sc.Split(func(data []byte, atEOF bool) (int, []byte, error) {
		if i := bytes.IndexAny(data, "\r\n"); i >= 0 {
			return i + 1, data[:i], nil
		}
		if atEOF && len(data) > 0 {
			return len(data), data, nil
		}
		return 0, nil, nil
	})
	point := ""
	var seen []string
	for sc.Scan() {
		line := sc.Text()
		seen = append(seen, line)
		if _, rest, found := strings.Cut(line, ", point "); found && point == "" {
			point, _, _ = strings.Cut(rest, ",")
			require.NoError(t, cmd.Process.Signal(syscall.SIGINT))
		}
	}
	t.Logf("run: %q", seen)
	require.NoError(t, cmd.Wait(), "output: %q", seen)
	require.NotEmpty(t, point, "no cycle in %q", seen)
	return point
}
