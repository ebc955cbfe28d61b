package main

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// rsyncSide runs rsync's client against rsync --daemon on loopback.
type rsyncSide struct {
	path    string // the rsync executable
	version string
	fsync   bool
	dir     string // daemon config and logs
}

// findRsync returns the rsync side, or ok false when rsync is not on PATH.
func findRsync(dir string, fsync bool) (rsyncSide, bool) {
	p, err := exec.LookPath("rsync")
	if err != nil {
		return rsyncSide{}, false
	}
	out, err := exec.Command(p, "--version").Output()
	if err != nil {
		return rsyncSide{}, false
	}
	first, _, _ := strings.Cut(string(out), "\n")
	return rsyncSide{path: p, version: strings.Join(strings.Fields(first), " "), fsync: fsync, dir: dir}, true
}

// freePort picks a loopback port nothing listens on.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// round pushes src to module path dest (a directory) through a fresh daemon
// and reports the client's wall time, the bytes rsync counted on the wire
// (sent plus received) and the larger peak RSS of client and daemon.
func (r rsyncSide) round(ctx context.Context, s *self, src, destDir string, whole bool) (sample, error) {
	port, err := freePort()
	if err != nil {
		return sample{}, err
	}
	conf := filepath.Join(r.dir, "rsyncd.conf")
	// The daemon keeps our user (as root it would otherwise switch to
	// nobody) and needs no chroot.
	text := fmt.Sprintf("use chroot = false\nuid = %d\ngid = %d\nlog file = %s\npid file = %s\n[dst]\n  path = %s\n  read only = false\n",
		os.Getuid(), os.Getgid(), filepath.Join(r.dir, "rsyncd.log"), filepath.Join(r.dir, "rsyncd.pid"), destDir)
	if err := os.WriteFile(conf, []byte(text), 0o644); err != nil {
		return sample{}, err
	}
	daemon, daemonRSS, err := s.wrapped(ctx, r.path, "--daemon", "--no-detach", "--config="+conf, "--address=127.0.0.1", "--port="+strconv.Itoa(port))
	if err != nil {
		return sample{}, err
	}
	var derr bytes.Buffer
	daemon.Stderr = &derr
	if err := daemon.Start(); err != nil {
		return sample{}, err
	}
	stopped := false
	defer func() {
		if !stopped {
			_ = daemon.Process.Signal(syscall.SIGTERM) // the wrapper passes it on
			_ = daemon.Wait()
			os.Remove(daemonRSS)
		}
	}()
	if err := waitListening(ctx, port); err != nil {
		return sample{}, fmt.Errorf("rsync daemon: %w: %s", err, derr.String())
	}
	args := []string{"-z", "--compress-choice=zstd", "--inplace", "--ignore-times", "--stats"}
	if whole {
		args = append(args, "--whole-file")
	} else {
		args = append(args, "--no-whole-file")
	}
	if r.fsync {
		args = append(args, "--fsync")
	}
	args = append(args, src, fmt.Sprintf("rsync://127.0.0.1:%d/dst/", port))
	client, clientRSS, err := s.wrapped(ctx, append([]string{r.path}, args...)...)
	if err != nil {
		return sample{}, err
	}
	var out, errOut bytes.Buffer
	client.Stdout, client.Stderr = &out, &errOut
	start := time.Now()
	err = client.Run()
	secs := time.Since(start).Seconds()
	if err != nil {
		return sample{}, fmt.Errorf("rsync %s: %w: %s", strings.Join(args, " "), err, errOut.String())
	}
	wire, err := rsyncWireBytes(out.String())
	if err != nil {
		return sample{}, err
	}
	// The daemon's per-connection process has finished its transfer when
	// the client exits; give the daemon a moment to reap it, so that its
	// peak RSS is in the daemon's accounting.
	time.Sleep(100 * time.Millisecond)
	_ = daemon.Process.Signal(syscall.SIGTERM)
	_ = daemon.Wait()
	stopped = true
	rssC, err := wrappedRSS(clientRSS)
	if err != nil {
		return sample{}, err
	}
	rssD, err := wrappedRSS(daemonRSS)
	if err != nil {
		return sample{}, err
	}
	return sample{seconds: secs, wire: wire, rss: max(rssC, rssD), parts: map[string]int64{"client": rssC, "daemon": rssD}}, nil
}

func waitListening(ctx context.Context, port int) error {
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", port), time.Second)
		if err == nil {
			c.Close()
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("not listening on port %d after 10s", port)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(10 * time.Millisecond):
		}
	}
}

var statsLine = regexp.MustCompile(`(?m)^Total bytes (sent|received): ([0-9,.]+)`)

// rsyncWireBytes adds the "Total bytes sent" and "Total bytes received" of
// rsync's --stats output.
func rsyncWireBytes(out string) (int64, error) {
	m := statsLine.FindAllStringSubmatch(out, -1)
	if len(m) != 2 {
		return 0, fmt.Errorf("rsync --stats output without the byte totals: %q", out)
	}
	var total int64
	for _, s := range m {
		n, err := strconv.ParseInt(strings.NewReplacer(",", "", ".", "").Replace(s[2]), 10, 64)
		if err != nil {
			return 0, fmt.Errorf("rsync --stats: %q: %w", s[0], err)
		}
		total += n
	}
	return total, nil
}
