package main

import (
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/blockrep/blockrep/delta"
)

// report prints the story: one line per step, each with the time since the
// run began, indented details under it. It is safe for concurrent use (the
// progress bar prints from the replication's goroutine).
type report struct {
	mu    sync.Mutex
	w     io.Writer
	live  bool // w is a terminal: progress bars redraw in place
	start time.Time
	bar   bool // a progress bar is on the current line
}

func newReport(w io.Writer) *report {
	r := &report{w: w, start: time.Now()}
	if f, ok := w.(*os.File); ok {
		if fi, err := f.Stat(); err == nil && fi.Mode()&os.ModeCharDevice != 0 {
			r.live = true
		}
	}
	return r
}

// step prints a numbered headline.
func (r *report) step(format string, args ...any) {
	r.line(fmt.Sprintf("%6.1fs  ", time.Since(r.start).Seconds()) + fmt.Sprintf(format, args...))
}

// detail prints an indented line under the current step.
func (r *report) detail(format string, args ...any) {
	r.line("         " + fmt.Sprintf(format, args...))
}

// ok prints a verification that held.
func (r *report) ok(format string, args ...any) {
	r.line("         ✓ " + fmt.Sprintf(format, args...))
}

// fail prints a verification that did not hold.
func (r *report) fail(format string, args ...any) {
	r.line("         ✗ " + fmt.Sprintf(format, args...))
}

func (r *report) line(s string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.bar {
		fmt.Fprintln(r.w)
		r.bar = false
	}
	fmt.Fprintln(r.w, s)
}

// progress returns a function for InitialReplication.Progress and
// ExtendConfig.Progress that draws a bar on one line, redrawn with a
// carriage return at every 5%, and ends the line at 100%. When the output is
// not a terminal (a pipe, a file, a test) only the finished bar is printed.
func (r *report) progress(label string) func(done, total int64) {
	last := -1
	return func(done, total int64) {
		if total <= 0 {
			return
		}
		pct := int(done * 100 / total)
		if pct > 100 {
			pct = 100
		}
		if pct/5 == last/5 && pct != 100 || pct == last {
			return
		}
		last = pct
		if !r.live && pct < 100 {
			return
		}
		const width = 40
		fill := pct * width / 100
		r.mu.Lock()
		defer r.mu.Unlock()
		if r.live {
			fmt.Fprint(r.w, "\r")
		}
		fmt.Fprintf(r.w, "         %s [%s%s] %3d%%  %s of %s", label,
			strings.Repeat("█", fill), strings.Repeat("·", width-fill), pct, formatBytes(done), formatBytes(total))
		r.bar = pct < 100
		if pct == 100 {
			fmt.Fprintln(r.w)
		}
	}
}

// formatBytes writes a byte count with a binary unit: 512 B, 1.5 KiB, 256 MiB.
func formatBytes(n int64) string {
	const units = "KMGTPE"
	if n < 1024 && n > -1024 {
		return fmt.Sprintf("%d B", n)
	}
	f, i := float64(n)/1024, 0
	for (f >= 1024 || f <= -1024) && i < len(units)-1 {
		f /= 1024
		i++
	}
	if f == float64(int64(f)) {
		return fmt.Sprintf("%d %ciB", int64(f), units[i])
	}
	return fmt.Sprintf("%.1f %ciB", f, units[i])
}

// formatRate writes bytes over a duration as a rate.
func formatRate(n int64, d time.Duration) string {
	if d <= 0 {
		return "—"
	}
	return formatBytes(int64(float64(n)/d.Seconds())) + "/s"
}

// formatDuration rounds a duration for reading: 1.23s, 45ms, 830µs.
func formatDuration(d time.Duration) string {
	switch {
	case d >= 10*time.Second:
		return d.Round(100 * time.Millisecond).String()
	case d >= time.Second:
		return d.Round(10 * time.Millisecond).String()
	case d >= 10*time.Millisecond:
		return d.Round(time.Millisecond).String()
	default:
		return d.Round(10 * time.Microsecond).String()
	}
}

// shortID is the first 8 hex digits of a point id, enough to tell the
// points of a run apart.
func shortID(id delta.PointID) string { return fmt.Sprintf("%x", id[:4]) }

// shortHash is the first 8 hex digits of a content hash.
func shortHash(h delta.Hash) string { return fmt.Sprintf("%x", h[:4]) }
