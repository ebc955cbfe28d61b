package main

import (
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"
)

// stat is the median, minimum and maximum of one quantity over the rounds.
type stat struct {
	Median float64 `json:"median"`
	Min    float64 `json:"min"`
	Max    float64 `json:"max"`
}

func statOf(v []float64) stat {
	if len(v) == 0 {
		return stat{}
	}
	s := slices.Clone(v)
	slices.Sort(s)
	m := s[len(s)/2]
	if len(s)%2 == 0 {
		m = (s[len(s)/2-1] + s[len(s)/2]) / 2
	}
	return stat{Median: m, Min: s[0], Max: s[len(s)-1]}
}

// row is one side of one workload over all its rounds.
type row struct {
	Side    string `json:"side"`
	Rounds  int    `json:"rounds"`
	Time    stat   `json:"time_seconds"`
	Wire    *stat  `json:"wire_bytes,omitempty"`
	PeakRSS *stat  `json:"peak_rss_bytes,omitempty"`
	// RSSParts is the peak RSS of each process of the side (primary and
	// replica, rsync's client and daemon).
	RSSParts map[string]stat `json:"peak_rss_bytes_by_process,omitempty"`
	Blocks   int64           `json:"blocks,omitempty"`
	Stream   *stat           `json:"stream_bytes,omitempty"`
	HashWire *stat           `json:"hash_bytes,omitempty"`
	Note     string          `json:"note,omitempty"`

	samples []sample
}

// add records one round's sample.
func (r *row) add(s sample) {
	r.samples = append(r.samples, s)
}

// finish computes the row's statistics from its samples.
func (r *row) finish() {
	var t, w, m, st, hb []float64
	for _, s := range r.samples {
		t = append(t, s.seconds)
		w = append(w, float64(s.wire))
		m = append(m, float64(s.rss))
		st = append(st, float64(s.result.StreamBytes))
		hb = append(hb, float64(s.result.HashBytes))
		r.Blocks = s.result.Blocks
	}
	parts := map[string][]float64{}
	for _, s := range r.samples {
		for k, v := range s.parts {
			parts[k] = append(parts[k], float64(v))
		}
	}
	for k, v := range parts {
		if r.RSSParts == nil {
			r.RSSParts = map[string]stat{}
		}
		r.RSSParts[k] = statOf(v)
	}
	r.Rounds = len(r.samples)
	r.Time = statOf(t)
	set := func(v []float64) *stat {
		if slices.Max(v) == 0 {
			return nil
		}
		s := statOf(v)
		return &s
	}
	if len(r.samples) > 0 {
		r.Wire, r.PeakRSS, r.Stream, r.HashWire = set(w), set(m), set(st), set(hb)
	}
}

// ratio is one of the targets, measured.
type ratio struct {
	Name   string  `json:"name"`
	Value  float64 `json:"value"`
	Target string  `json:"target"`
	Met    bool    `json:"met"`
}

// atMost and atLeast make a ratio against its bound.
func atMost(name string, value, bound float64) ratio {
	return ratio{Name: name, Value: value, Target: fmt.Sprintf("<= %g", bound), Met: value <= bound}
}

func atLeast(name string, value, bound float64) ratio {
	return ratio{Name: name, Value: value, Target: fmt.Sprintf(">= %g", bound), Met: value >= bound}
}

// workload is the report of one workload.
type workload struct {
	Name        string  `json:"name"`
	Description string  `json:"description"`
	Rows        []*row  `json:"rows"`
	Ratios      []ratio `json:"ratios"`
}

// side returns the workload's row for side, adding it if needed.
func (w *workload) side(name string) *row {
	for _, r := range w.Rows {
		if r.Side == name {
			return r
		}
	}
	r := &row{Side: name}
	w.Rows = append(w.Rows, r)
	return r
}

// report is the whole run.
type report struct {
	Date      string      `json:"date"`
	Cores     int         `json:"cores"`
	Platform  string      `json:"platform"`
	Go        string      `json:"go"`
	LoadStart string      `json:"load_start"`
	LoadEnd   string      `json:"load_end"`
	Size      int64       `json:"size"`
	ScaleSize int64       `json:"scale_size"`
	Rounds    int         `json:"rounds"`
	Seed      uint64      `json:"seed"`
	Transport string      `json:"transport"`
	Rsync     string      `json:"rsync"`
	Command   string      `json:"command"`
	Workloads []*workload `json:"workloads"`
	Notes     []string    `json:"notes"`
}

func (rep *report) writeJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(rep)
}

func (rep *report) writeTable(w io.Writer) error {
	fmt.Fprintf(w, "blockrep vs rsync and the machine's limits — %s, %d cores, %s, %s\n", rep.Date, rep.Cores, rep.Platform, rep.Go)
	fmt.Fprintf(w, "volume %s of mixed content (seed %d), %d rounds interleaved, blockrep over %s; load %s → %s\n",
		formatSize(rep.Size), rep.Seed, rep.Rounds, rep.Transport, rep.LoadStart, rep.LoadEnd)
	if rep.Rsync != "" {
		fmt.Fprintf(w, "rsync: %s\n", rep.Rsync)
	}
	fmt.Fprintf(w, "reproduce: %s\n\n", rep.Command)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight|tabwriter.Debug)
	fmt.Fprintln(tw, "workload\tside\ttime median\tmin\tmax\twire median\twire min\twire max\tpeak RSS median\tRSS max\t")
	for _, wl := range rep.Workloads {
		for _, r := range wl.Rows {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t\n", wl.Name, r.Side,
				fmtSeconds(r.Time.Median), fmtSeconds(r.Time.Min), fmtSeconds(r.Time.Max),
				fmtBytesStat(r.Wire, func(s stat) float64 { return s.Median }),
				fmtBytesStat(r.Wire, func(s stat) float64 { return s.Min }),
				fmtBytesStat(r.Wire, func(s stat) float64 { return s.Max }),
				fmtBytesStat(r.PeakRSS, func(s stat) float64 { return s.Median }),
				fmtBytesStat(r.PeakRSS, func(s stat) float64 { return s.Max }))
		}
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintln(w, "\ntargets (ratios of medians from this run):")
	for _, wl := range rep.Workloads {
		for _, r := range wl.Ratios {
			verdict := "met"
			if !r.Met {
				verdict = "MISSED"
			}
			fmt.Fprintf(w, "  %-8s %-38s %8.3f  target %-7s %s\n", wl.Name, r.Name, r.Value, r.Target, verdict)
		}
	}
	fmt.Fprintln(w, "\nworkloads:")
	for _, wl := range rep.Workloads {
		fmt.Fprintf(w, "  %-8s %s\n", wl.Name, wl.Description)
	}
	if len(rep.Notes) > 0 {
		fmt.Fprintln(w, "\nnotes:")
		for _, n := range rep.Notes {
			fmt.Fprintf(w, "  - %s\n", n)
		}
	}
	return nil
}

func fmtSeconds(s float64) string {
	switch {
	case s == 0:
		return "-"
	case s < 1:
		return fmt.Sprintf("%.1f ms", s*1000)
	default:
		return fmt.Sprintf("%.2f s", s)
	}
}

func fmtBytesStat(s *stat, pick func(stat) float64) string {
	if s == nil {
		return "-"
	}
	return fmtBytes(pick(*s))
}

func fmtBytes(b float64) string {
	switch {
	case b >= 1<<30:
		return fmt.Sprintf("%.2f GiB", b/(1<<30))
	case b >= 1<<20:
		return fmt.Sprintf("%.1f MiB", b/(1<<20))
	case b >= 1<<10:
		return fmt.Sprintf("%.1f KiB", b/(1<<10))
	}
	return fmt.Sprintf("%.0f B", b)
}

// describe joins a workload's description parts.
func describe(parts ...string) string { return strings.Join(parts, " ") }
