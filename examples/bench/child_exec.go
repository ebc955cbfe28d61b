package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"syscall"
	"time"
)

// runExec starts spec.Argv with this process's stdin, stdout and stderr,
// forwards SIGTERM to it, waits for it and writes its peak RSS (bytes) to
// spec.RSSFile.
//
// Every measured process starts through this wrapper because Linux carries a
// process's peak RSS across exec: a child that a big process starts inherits
// that process's high-water mark. This wrapper is small, so the floor it
// passes on is a few MiB, the same for every side.
func runExec(spec childSpec) error {
	if len(spec.Argv) == 0 {
		return errors.New("exec: no command")
	}
	cmd := exec.Command(spec.Argv[0], spec.Argv[1:]...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM)
	defer signal.Stop(sig)
	if err := cmd.Start(); err != nil {
		return err
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	var err error
	for waiting := true; waiting; {
		select {
		case s := <-sig:
			_ = cmd.Process.Signal(s)
		case err = <-done:
			waiting = false
		}
	}
	if werr := os.WriteFile(spec.RSSFile, []byte(strconv.FormatInt(peakRSS(cmd.ProcessState), 10)), 0o644); werr != nil {
		return errors.Join(err, werr)
	}
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return fmt.Errorf("%s: %w", spec.Argv[0], err)
	}
	return err
}

// wrapped returns the command that runs argv through the exec wrapper, and
// the file the wrapper leaves the peak RSS in.
func (s *self) wrapped(ctx context.Context, argv ...string) (*exec.Cmd, string, error) {
	s.n++
	rssFile := filepath.Join(s.dir, fmt.Sprintf("rss-%d", s.n))
	b, err := jsonSpec(childSpec{Role: "exec", Argv: argv, RSSFile: rssFile})
	if err != nil {
		return nil, "", err
	}
	cmd := exec.CommandContext(ctx, s.exe, "-child", b)
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
	cmd.WaitDelay = 10 * time.Second
	return cmd, rssFile, nil
}

// wrappedRSS reads what the wrapper left in rssFile, and removes it.
func wrappedRSS(rssFile string) (int64, error) {
	b, err := os.ReadFile(rssFile)
	if err != nil {
		return 0, fmt.Errorf("peak RSS: %w", err)
	}
	os.Remove(rssFile)
	return strconv.ParseInt(string(b), 10, 64)
}
