package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime/pprof"
)

// childSpec tells a child process what to do. The parent passes it as the
// JSON value of -child.
type childSpec struct {
	Role     string `json:"role"` // "primary", "replica", "apply" or "plainwrite"
	Mode     string `json:"mode,omitempty"`
	Certs    string `json:"certs,omitempty"`
	Insecure bool   `json:"insecure,omitempty"`
	Addr     string `json:"addr,omitempty"`
	Group    string `json:"group,omitempty"`
	Volume   string `json:"volume,omitempty"`
	Size     int64  `json:"size,omitempty"`
	Tracker  string `json:"tracker,omitempty"`
	Last     string `json:"last,omitempty"`
	Hashes   string `json:"hashes,omitempty"`
	Store    string `json:"store,omitempty"`
	Input    string `json:"input,omitempty"`
	Profile  string `json:"profile,omitempty"`
	// The change a "tracked" primary writes through the tracker.
	ChangeSeed   uint64 `json:"change_seed,omitempty"`
	ChangeSalt   uint64 `json:"change_salt,omitempty"`
	ChangeBlocks int64  `json:"change_blocks,omitempty"`
	// The command the "exec" wrapper runs, and where it leaves its peak RSS.
	Argv    []string `json:"argv,omitempty"`
	RSSFile string   `json:"rss_file,omitempty"`
}

func jsonSpec(spec childSpec) (string, error) {
	b, err := json.Marshal(spec)
	return string(b), err
}

// childResult is what a child reports on its stdout, as one JSON line.
type childResult struct {
	Seconds     float64 `json:"seconds"`
	WireBytes   int64   `json:"wire_bytes,omitempty"`
	Point       string  `json:"point,omitempty"`
	Blocks      int64   `json:"blocks,omitempty"`
	StreamBytes int64   `json:"stream_bytes,omitempty"`
	HashBytes   int64   `json:"hash_bytes,omitempty"`
	Addr        string  `json:"addr,omitempty"`
}

func runChild(ctx context.Context, arg string, stdin io.Reader, stdout io.Writer) error {
	var spec childSpec
	if err := json.Unmarshal([]byte(arg), &spec); err != nil {
		return fmt.Errorf("-child: %w", err)
	}
	var (
		res childResult
		err error
	)
	switch spec.Role {
	case "exec":
		return runExec(spec)
	case "replica":
		return runReplica(ctx, spec, stdin, stdout)
	case "primary":
		res, err = runPrimary(ctx, spec)
	case "apply":
		res, err = runApply(ctx, spec)
	case "plainwrite":
		res, err = runPlainWrite(spec)
	default:
		return fmt.Errorf("-child: unknown role %q", spec.Role)
	}
	if err != nil {
		return fmt.Errorf("%s %s: %w", spec.Role, spec.Mode, err)
	}
	return json.NewEncoder(stdout).Encode(res)
}

// startProfile starts a CPU profile into path when path is set; the
// returned function stops it.
func startProfile(path string) (func(), error) {
	if path == "" {
		return func() {}, nil
	}
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, err
	}
	return func() {
		pprof.StopCPUProfile()
		f.Close()
	}, nil
}

// writeHeapProfile writes a heap profile to path.
func writeHeapProfile(path string) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	return errors.Join(pprof.WriteHeapProfile(f), f.Close())
}
