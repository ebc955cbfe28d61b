package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os/exec"
	"strings"
	"time"
)

// sample is one side's measurement of one round.
type sample struct {
	seconds float64
	wire    int64
	rss     int64 // peak RSS of the side's busiest process, bytes
	result  childResult
}

// self is how the parent starts its children: this program's executable.
type self struct {
	exe string
	dir string // where the exec wrappers leave peak RSS figures
	n   int
}

// command returns the command running a child with spec through the exec
// wrapper, and the wrapper's RSS file.
func (s *self) command(ctx context.Context, spec childSpec) (*exec.Cmd, string, error) {
	b, err := jsonSpec(spec)
	if err != nil {
		return nil, "", err
	}
	return s.wrapped(ctx, s.exe, "-child", b)
}

// runChild runs a child to its end and returns its result and peak RSS.
func (s *self) run(ctx context.Context, spec childSpec) (childResult, int64, error) {
	cmd, rssFile, err := s.command(ctx, spec)
	if err != nil {
		return childResult{}, 0, err
	}
	var out, errOut bytes.Buffer
	cmd.Stdout = &out
	cmd.Stderr = &errOut
	if err := cmd.Run(); err != nil {
		return childResult{}, 0, fmt.Errorf("%s child: %w: %s", spec.Role, err, strings.TrimSpace(errOut.String()))
	}
	var res childResult
	if err := json.Unmarshal(out.Bytes(), &res); err != nil {
		return res, 0, fmt.Errorf("%s child's output %q: %w", spec.Role, out.String(), err)
	}
	rss, err := wrappedRSS(rssFile)
	return res, rss, err
}

// server is a running replica child.
type server struct {
	cmd    *exec.Cmd
	rss    string
	stdin  io.WriteCloser
	addr   string
	stderr *bytes.Buffer
}

// startReplica starts a replica child serving store and waits for its port.
func (s *self) startReplica(ctx context.Context, spec childSpec) (*server, error) {
	spec.Role = "replica"
	cmd, rssFile, err := s.command(ctx, spec)
	if err != nil {
		return nil, err
	}
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	srv := &server{cmd: cmd, rss: rssFile, stdin: stdin, stderr: &bytes.Buffer{}}
	cmd.Stderr = srv.stderr
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	line, err := bufio.NewReader(stdout).ReadBytes('\n')
	var res childResult
	if err == nil {
		err = json.Unmarshal(line, &res)
	}
	if err != nil || res.Addr == "" {
		stdin.Close()
		_ = cmd.Wait()
		return nil, fmt.Errorf("replica child did not report its address (%v): %s", err, strings.TrimSpace(srv.stderr.String()))
	}
	srv.addr = res.Addr
	return srv, nil
}

// stop closes the replica child's stdin, waits for it and returns its peak RSS.
func (srv *server) stop() (int64, error) {
	srv.stdin.Close()
	done := make(chan error, 1)
	go func() { done <- srv.cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			return 0, fmt.Errorf("replica child: %w: %s", err, strings.TrimSpace(srv.stderr.String()))
		}
	case <-time.After(2 * time.Minute):
		_ = srv.cmd.Process.Kill()
		<-done
		return 0, fmt.Errorf("replica child did not stop: %s", strings.TrimSpace(srv.stderr.String()))
	}
	return wrappedRSS(srv.rss)
}

// blockrepRound runs one blockrep measurement: a replica child on store, the
// primary child with spec against it; the sample's RSS is the larger of the
// two processes'.
func (s *self) blockrepRound(ctx context.Context, store string, spec childSpec) (sample, error) {
	srv, err := s.startReplica(ctx, childSpec{Certs: spec.Certs, Insecure: spec.Insecure, Store: store, Profile: profileSibling(spec.Profile, "replica")})
	if err != nil {
		return sample{}, err
	}
	spec.Role = "primary"
	spec.Addr = srv.addr
	res, rssP, err := s.run(ctx, spec)
	rssR, serr := srv.stop()
	if err != nil {
		return sample{}, err
	}
	if serr != nil {
		return sample{}, serr
	}
	return sample{seconds: res.Seconds, wire: res.WireBytes, rss: max(rssP, rssR), result: res}, nil
}

// profileSibling names the replica's profile next to the primary's.
func profileSibling(path, role string) string {
	if path == "" {
		return ""
	}
	return strings.TrimSuffix(path, ".pprof") + "-" + role + ".pprof"
}
