package main

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"time"
)

// makeVolumes creates the primary's two volume files and hashes them: that
// hash list is where the model of the primary's image starts.
func (s *story) makeVolumes(ctx context.Context) error {
	start := time.Now()
	dir := filepath.Join(s.root, "volumes")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	vols, err := makeVolumes(dir, s.opt.Size, s.opt.Seed)
	s.vols = vols
	if err != nil {
		return err
	}
	made := time.Since(start)
	s.sizes = make([]int64, len(vols))
	files := make([]io.ReaderAt, len(vols))
	for i, v := range vols {
		s.sizes[i], files[i] = v.Size, v.File
	}
	start = time.Now()
	im, err := hashImage(ctx, files, s.sizes, s.blockSize)
	if err != nil {
		return err
	}
	s.m = newModel(im)
	s.rep.step("volumes   %s of a group of %d volumes in %s (seed %d, made in %s, hashed in %s)",
		formatBytes(s.total()), len(vols), dir, s.opt.Seed, formatDuration(made), formatDuration(time.Since(start)))
	for _, v := range vols {
		s.rep.detail("%-10s %8s: %s zeros, %s text-like, %s random", v.Name, formatBytes(v.Size), formatBytes(v.Zero), formatBytes(v.Text), formatBytes(v.Random))
	}
	return nil
}

// startHosts starts hv1 (the primary, and later a replica), hv2 (its
// replica, later the primary) and hv3 (hv2's extended replica), each with a
// certificate from a CA made now, listening on loopback.
func (s *story) startHosts(ctx context.Context) error {
	start := time.Now()
	hosts, err := startHosts(ctx, s.root, []hostSpec{
		{name: "hv1", primary: true, allow: []string{"hv2"}},
		{name: "hv2", primary: true, allow: []string{"hv1"}},
		{name: "hv3", allow: []string{"hv2"}},
	})
	if err != nil {
		return err
	}
	s.hosts = hosts
	s.hv1, s.hv2, s.hv3 = hosts[0], hosts[1], hosts[2]
	s.rep.step("hosts     a CA and 3 certificates made, mutual TLS 1.3 listeners on loopback (%s)", formatDuration(time.Since(start)))
	roles := map[string]string{
		"hv1": "primary host; replica host for the reversal (takes groups from hv2)",
		"hv2": "replica host (takes groups from hv1); primary host after the failover",
		"hv3": "extended replica host (takes groups from hv2)",
	}
	for _, h := range hosts {
		s.rep.detail("%s  %-16s %s; store %s", h.name, h.addr, roles[h.name], h.storeDir)
	}
	return nil
}
