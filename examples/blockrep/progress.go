package main

import (
	"fmt"
	"io"
	"strings"
	"sync"
	"time"
)

// progressBar draws a one-line progress bar on w (stderr), redrawn in
// place with a carriage return at most every 100 ms and at the end.
type progressBar struct {
	w     io.Writer
	label string

	mu    sync.Mutex
	last  time.Time
	shown bool
}

func newProgressBar(w io.Writer, label string) *progressBar {
	return &progressBar{w: w, label: label}
}

// update is an InitialReplication.Progress callback.
func (p *progressBar) update(done, total int64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	now := time.Now()
	if done < total && now.Sub(p.last) < 100*time.Millisecond {
		return
	}
	p.last = now
	p.shown = true
	fmt.Fprintf(p.w, "\r%s", renderBar(p.label, done, total, 30))
}

// finish ends the bar's line.
func (p *progressBar) finish() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.shown {
		fmt.Fprintln(p.w)
		p.shown = false
	}
}

// renderBar renders "label [#####.....]  42% 1.0 MiB / 2.4 MiB".
func renderBar(label string, done, total int64, width int) string {
	frac := 1.0
	if total > 0 {
		frac = min(max(float64(done)/float64(total), 0), 1)
	}
	n := int(frac * float64(width))
	return fmt.Sprintf("%s [%s%s] %3d%% %s / %s", label, strings.Repeat("#", n), strings.Repeat(".", width-n),
		int(frac*100), formatBytes(done), formatBytes(total))
}

// formatBytes renders a byte count with a binary unit.
func formatBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit && exp < 5; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}
