package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"time"

	"github.com/blockrep/blockrep/checkpoint"
	"github.com/blockrep/blockrep/checkpoint/vfs"
)

// bench is one run: its configuration, work directory, the two sides'
// files and the report being filled.
type bench struct {
	cfg   config
	self  *self
	rs    rsyncSide
	rsync bool
	dir   string
	certs string
	rep   *report

	// blockrep's side of the main volume: the primary's file, its tracker
	// state, the page hashes of the last scan cycle, the replica's store and
	// the last point the replica acknowledged.
	aVol, aTracker, aHashes, aStore, aLast string
	// rsync's side: the source file and the daemon module's directory.
	bSrc, bDir string
}

const mainGroup = "bench"

func runBench(ctx context.Context, cfg config, stdout, stderr io.Writer) (err error) {
	exe, err := os.Executable()
	if err != nil {
		return err
	}
	b := &bench{cfg: cfg, self: &self{exe: exe}, dir: cfg.dir}
	if b.dir == "" {
		if b.dir, err = os.MkdirTemp("", "blockrep-bench-"); err != nil {
			return err
		}
		if !cfg.keep {
			defer func() { err = errors.Join(err, os.RemoveAll(b.dir)) }()
		}
	} else if err := os.MkdirAll(b.dir, 0o755); err != nil {
		return err
	}
	b.self.dir = b.dir
	if cfg.profile != "" {
		if err := os.MkdirAll(cfg.profile, 0o755); err != nil {
			return err
		}
	}
	b.rep = &report{
		Date:      time.Now().UTC().Format("2006-01-02 15:04 UTC"),
		Cores:     runtime.NumCPU(),
		Platform:  runtime.GOOS + "/" + runtime.GOARCH,
		Go:        runtime.Version(),
		LoadStart: loadAverage(),
		Size:      cfg.size,
		ScaleSize: cfg.scaleSize,
		Rounds:    cfg.rounds,
		Seed:      cfg.seed,
		Transport: "mutual TLS 1.3 on TCP loopback (transport/tcp)",
		Command:   fmt.Sprintf("go run ./examples/bench -size %s -rounds %d -seed %d", formatSize(cfg.size), cfg.rounds, cfg.seed),
	}
	if cfg.insecure {
		b.rep.Transport = "plain TCP loopback (transport/tcp, Insecure)"
		b.rep.Command += " -insecure"
	}
	if cfg.rsyncFsync {
		b.rep.Command += " -rsync-fsync"
	}
	if err := b.setup(); err != nil {
		return fmt.Errorf("setting up: %w", err)
	}
	runners := map[string]func(context.Context) (*workload, error){
		"initial": b.initial, "tracked": b.tracked, "scan": b.scan,
		"resync": b.resync, "apply": b.apply, "scale": b.scale,
	}
	for _, name := range allWorkloads {
		if !slices.Contains(cfg.workloads, name) {
			continue
		}
		fmt.Fprintf(stderr, "bench: %s ...\n", name)
		wl, err := runners[name](ctx)
		if err != nil {
			return fmt.Errorf("workload %s: %w", name, err)
		}
		for _, r := range wl.Rows {
			r.finish()
		}
		b.ratios(wl)
		b.rep.Workloads = append(b.rep.Workloads, wl)
	}
	b.rep.LoadEnd = loadAverage()
	b.notes()
	if cfg.jsonFile != "" {
		f, err := os.Create(cfg.jsonFile)
		if err != nil {
			return err
		}
		if err := errors.Join(b.rep.writeJSON(f), f.Close()); err != nil {
			return err
		}
	}
	if cfg.jsonOut {
		return b.rep.writeJSON(stdout)
	}
	return b.rep.writeTable(stdout)
}

// setup makes the certificates, the main volume and rsync's copy of it.
func (b *bench) setup() error {
	b.certs = filepath.Join(b.dir, "certs")
	for _, d := range []string{b.certs, filepath.Join(b.dir, "a"), filepath.Join(b.dir, "b", "src"), filepath.Join(b.dir, "b", "dst"), filepath.Join(b.dir, "rsyncd")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return err
		}
	}
	if err := makeCerts(b.certs); err != nil {
		return err
	}
	b.aVol = filepath.Join(b.dir, "a", "disk.img")
	b.aTracker = filepath.Join(b.dir, "a", "tracker.state")
	b.aHashes = filepath.Join(b.dir, "a", "pages.bin")
	b.aStore = filepath.Join(b.dir, "a", "store")
	b.bSrc = filepath.Join(b.dir, "b", "src", "disk.img")
	b.bDir = filepath.Join(b.dir, "b", "dst")
	if err := writeMixedFile(b.aVol, b.cfg.size, b.cfg.seed); err != nil {
		return err
	}
	b.rs, b.rsync = findRsync(filepath.Join(b.dir, "rsyncd"), b.cfg.rsyncFsync)
	if b.rsync {
		b.rep.Rsync = b.rs.version + " daemon on TCP loopback; client flags -z --compress-choice=zstd --inplace --ignore-times, --whole-file (initial) or --no-whole-file (deltas)"
		if b.cfg.rsyncFsync {
			b.rep.Rsync += ", --fsync"
		}
		return copyFile(b.bSrc, b.aVol)
	}
	return nil
}

// spec returns a child spec for the main volume's primary.
func (b *bench) spec(mode string) childSpec {
	return childSpec{Mode: mode, Certs: b.certs, Insecure: b.cfg.insecure, Group: mainGroup,
		Volume: b.aVol, Size: b.cfg.size, Tracker: b.aTracker, Last: b.aLast}
}

// profile names a CPU profile (of a round's primary, or of a workload's
// replica), or "" without -profile.
func (b *bench) profile(name string) string {
	if b.cfg.profile == "" {
		return ""
	}
	return filepath.Join(b.cfg.profile, name+".pprof")
}

// ensureReplicated gives both sides a first copy of the main volume when the
// initial workload did not run.
func (b *bench) ensureReplicated(ctx context.Context) error {
	if b.aLast != "" {
		return nil
	}
	if err := os.RemoveAll(b.aStore); err != nil {
		return err
	}
	if err := os.MkdirAll(b.aStore, 0o755); err != nil {
		return err
	}
	err := b.withReplica(ctx, b.aStore, "", nil, func(srv *server) error {
		s, err := b.self.primaryRound(ctx, srv, b.spec("initial"))
		if err != nil {
			return err
		}
		b.aLast = s.result.Point
		return b.verifyA(srv)
	})
	if err != nil {
		return err
	}
	if b.rsync {
		return copyFile(filepath.Join(b.bDir, "disk.img"), b.bSrc)
	}
	return nil
}

// withReplica runs fn with a replica child serving the store at dir, then
// stops it and counts its peak RSS in the samples row holds (when not nil).
func (b *bench) withReplica(ctx context.Context, dir, profile string, r *row, fn func(*server) error) error {
	srv, err := b.self.startReplica(ctx, b.certs, b.cfg.insecure, dir, profile)
	if err != nil {
		return err
	}
	if err := fn(srv); err != nil {
		_, _ = srv.stop()
		return err
	}
	var samples []sample
	if r != nil {
		samples = r.samples
	}
	return replicaDone(srv, samples)
}

// verifyA checks blockrep's replica of the main volume against its primary,
// byte for byte.
func (b *bench) verifyA(srv *server) error {
	_, err := srv.verify(verifyRequest{Group: mainGroup, Point: b.aLast, Volume: b.aVol, Size: b.cfg.size})
	return err
}

// verifyB checks rsync's copy against its source, byte for byte.
func (b *bench) verifyB() error {
	return compareFiles(b.bSrc, filepath.Join(b.bDir, "disk.img"))
}

// verifySources checks that the two sides replicated the same content.
func (b *bench) verifySources() error {
	if !b.rsync {
		return nil
	}
	return compareFiles(b.aVol, b.bSrc)
}

// verifyStore checks, when no replica child has the store at dir open, that
// the latest point of group is point and equals the file vol byte for byte.
func verifyStore(ctx context.Context, dir, group, point, vol string, size int64) (err error) {
	store, err := checkpoint.Open(vfs.OS(), dir)
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, store.Close()) }()
	_, err = verifyLatest(ctx, store, verifyRequest{Group: group, Point: point, Volume: vol, Size: size})
	return err
}

// loadAverage returns the 1, 5 and 15 minute load averages, where known.
func loadAverage() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "n/a"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "n/a"
	}
	return strings.Join(f[:3], " ")
}
