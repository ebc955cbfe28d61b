package main

import "fmt"

// ratios computes the targets for a workload from the medians.
func (b *bench) ratios(wl *workload) {
	med := func(side string) (time, wire, rss float64, ok bool) {
		for _, r := range wl.Rows {
			if r.Side == side && r.Rounds > 0 {
				if r.Wire != nil {
					wire = r.Wire.Median
				}
				if r.PeakRSS != nil {
					rss = r.PeakRSS.Max
				}
				return r.Time.Median, wire, rss, true
			}
		}
		return 0, 0, 0, false
	}
	bt, bw, _, _ := med("blockrep")
	rt, rw, _, haveR := med("rsync")
	lt, _, _, haveL := med("limit")
	vsRsync := func(timeBound, bytesBound float64) {
		if !haveR {
			return
		}
		wl.Ratios = append(wl.Ratios, atMost("time / rsync's", bt/rt, timeBound))
		wl.Ratios = append(wl.Ratios, atMost("bytes on the wire / rsync's", bw/rw, bytesBound))
	}
	switch wl.Name {
	case "initial":
		vsRsync(1.0, 1.0)
		if haveL {
			wl.Ratios = append(wl.Ratios, atMost("time / limit", bt/lt, 1.3))
		}
	case "tracked":
		vsRsync(0.1, 0.5)
		if haveL {
			wl.Ratios = append(wl.Ratios, atMost("time / limit", bt/lt, 1.5))
		}
	case "scan":
		vsRsync(0.4, 0.5)
	case "resync":
		vsRsync(0.7, 1.0)
	case "apply":
		pt, _, _, _ := med("plain write+fsync")
		wl.Ratios = append(wl.Ratios, atLeast("throughput / plain write+fsync's", pt/bt, 0.5))
	case "scale":
		bigSide, refSide := "blockrep "+formatSize(b.cfg.scaleSize), "blockrep "+formatSize(b.cfg.size)
		gt, _, grss, _ := med(bigSide)
		st, _, _, _ := med(refSide)
		wl.Ratios = append(wl.Ratios, atMost(fmt.Sprintf("peak RSS (max of rounds), MiB, %s", formatSize(b.cfg.scaleSize)), grss/(1<<20), 128))
		wl.Ratios = append(wl.Ratios, atMost(fmt.Sprintf("cycle time / %s's", formatSize(b.cfg.size)), gt/st, 2))
	}
}

// notes says how the figures were taken.
func (b *bench) notes() {
	n := []string{
		"Each side runs as child processes of this program: blockrep's primary host (a fresh process each round) and replica " +
			"host (one process serving all rounds of a workload, as a replica host serves cycle after cycle; a fresh one each " +
			"initial round), talking over transport/tcp; rsync's client and daemon (a fresh daemon each round). Peak RSS is the " +
			"larger of the two processes' maximum resident set, from the kernel's rusage of each exited child (JSON: per process).",
		"blockrep's time is the operation alone as the primary sees it (Enable+InitialReplication, Cycle, scan+Cycle, " +
			"Resynchronize; for apply Group.Apply), not process start nor Reattach; it includes the TLS handshake. " +
			"rsync's time is its client's wall time, process start included (a few ms).",
		"Bytes on the wire: blockrep's are the frames its connection sent and received with their length prefixes " +
			"(TLS record overhead, about 0.2%, not counted); rsync's are its --stats total bytes sent plus received.",
		"Both sides are verified byte for byte after every round (blockrep: the store's latest point read back against the " +
			"primary's file; rsync: destination against source), and both sources are compared at the end of each workload.",
		"The page cache is warmed alike before each measured round: every file of the side's source and replica is read once.",
		"blockrep syncs what it applies (undo log, data, commit) before acknowledging; rsync does not fsync unless -rsync-fsync.",
		"zstd: blockrep's full copy and the initial limit use klauspost/compress SpeedFastest (about level 1) in frames of up to 8 MiB; its cycles and the tracked limit SpeedDefault (about level 3); rsync its zstd default (level 3).",
	}
	if !b.rsync {
		n = append(n, "rsync is not on the PATH: its rows and the ratios against it are skipped (apt-get install rsync to compare).")
	}
	b.rep.Notes = append(n, b.rep.Notes...)
}
