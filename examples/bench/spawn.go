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
	rss     int64            // peak RSS of the side's busiest process, bytes
	parts   map[string]int64 // peak RSS of each of the side's processes
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

// server is a running replica child. The parent sends it verification
// requests, one JSON line each, on its stdin and reads the answers from its
// stdout; closing its stdin stops it.
type server struct {
	cmd    *exec.Cmd
	rss    string
	stdin  io.WriteCloser
	stdout *bufio.Reader
	addr   string
	stderr *bytes.Buffer
}

// startReplica starts a replica child serving the store at dir and waits for
// its port. profile, when set, receives its CPU profile.
func (s *self) startReplica(ctx context.Context, certs string, insecure bool, dir, profile string) (*server, error) {
	cmd, rssFile, err := s.command(ctx, childSpec{Role: "replica", Certs: certs, Insecure: insecure, Store: dir, Profile: profile})
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
	srv := &server{cmd: cmd, rss: rssFile, stdin: stdin, stdout: bufio.NewReader(stdout), stderr: &bytes.Buffer{}}
	cmd.Stderr = srv.stderr
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	line, err := srv.stdout.ReadBytes('\n')
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

// verify asks the replica child to check its latest point of req.Group
// against the primary's volume file, and returns the point's content hash.
func (srv *server) verify(req verifyRequest) (string, error) {
	b, err := json.Marshal(req)
	if err != nil {
		return "", err
	}
	if _, err := srv.stdin.Write(append(b, '\n')); err != nil {
		return "", fmt.Errorf("replica child: %w: %s", err, strings.TrimSpace(srv.stderr.String()))
	}
	line, err := srv.stdout.ReadBytes('\n')
	if err != nil {
		return "", fmt.Errorf("replica child: %w: %s", err, strings.TrimSpace(srv.stderr.String()))
	}
	var rep verifyReply
	if err := json.Unmarshal(line, &rep); err != nil {
		return "", fmt.Errorf("replica child's answer %q: %w", line, err)
	}
	if rep.Error != "" {
		return "", fmt.Errorf("verifying the replica: %s", rep.Error)
	}
	return rep.Hash, nil
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

// primaryRound runs one blockrep measurement: the primary child with spec
// against the running replica srv. The sample's RSS is the primary's; the
// replica's is added when it stops (see replicaDone).
func (s *self) primaryRound(ctx context.Context, srv *server, spec childSpec) (sample, error) {
	spec.Role = "primary"
	spec.Addr = srv.addr
	res, rss, err := s.run(ctx, spec)
	if err != nil {
		return sample{}, fmt.Errorf("%w (replica: %s)", err, strings.TrimSpace(srv.stderr.String()))
	}
	return sample{seconds: res.Seconds, wire: res.WireBytes, rss: rss, result: res, parts: map[string]int64{"primary": rss}}, nil
}

// replicaDone stops srv and counts its peak RSS in the samples it served:
// one replica process served them all, as one replica host serves cycle
// after cycle.
func replicaDone(srv *server, samples []sample) error {
	rss, err := srv.stop()
	if err != nil {
		return err
	}
	for i := range samples {
		samples[i].parts["replica"] = rss
		samples[i].rss = max(samples[i].rss, rss)
	}
	return nil
}
