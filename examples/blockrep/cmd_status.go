package main

import (
	"fmt"
	"text/tabwriter"
	"time"

	"github.com/blockrep/blockrep/replica"
)

// primaryStatus is one group of "blockrep status --state DIR --json".
type primaryStatus struct {
	Group      string         `json:"group"`
	Role       string         `json:"role"` // primary
	Replica    string         `json:"replica"`
	State      replica.State  `json:"state"`
	Health     replica.Health `json:"health"`
	Frequency  string         `json:"frequency"`
	Volumes    []volumeJSON   `json:"volumes"`
	LastPoint  string         `json:"last_point,omitempty"`
	LastTime   time.Time      `json:"last_point_time,omitzero"`
	Statistics replica.Stats  `json:"statistics"`
}

func runStatus(env *cmdEnv, args []string) error {
	var f storeFlags
	var state string
	fs := newFlagSet(env, "status")
	f.register(fs, true)
	fs.StringVar(&state, "state", "", "a primary's state directory (instead of --store)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if (state == "") == (f.store == "") {
		return usagef("give exactly one of --state and --store")
	}
	if state != "" {
		return primaryStatusCmd(env, state, f.group, f.json)
	}
	var sts []replicaStatus
	if err := storeRequest(env.ctx, f.store, controlRequest{Op: "status", Group: f.group}, &sts); err != nil {
		return err
	}
	if f.json {
		return writeJSON(env.stdout, sts)
	}
	tw := tabwriter.NewWriter(env.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "GROUP\tROLE\tSTATE\tHEALTH\tPOINTS\tLATEST\tREASONS")
	for _, s := range sts {
		fmt.Fprintf(tw, "%s\treplica\t%s\t%s\t%d\t%s\t%s\n", s.Group, s.State, s.Health.Level, s.Points, s.LatestTime.Format(time.RFC3339), joinReasons(s.Health.Reasons))
	}
	return tw.Flush()
}

// primaryStatusCmd reads the state directory only: it contacts no replica
// and takes no lock, so it works while run or sync is running.
func primaryStatusCmd(env *cmdEnv, state, group string, asJSON bool) error {
	dir := stateDir{root: state}
	ids := []string{group}
	if group == "" {
		var err error
		if ids, err = dir.groups(); err != nil {
			return err
		}
	}
	now := time.Now()
	out := make([]primaryStatus, 0, len(ids))
	for _, id := range ids {
		st, err := dir.load(id)
		if err != nil {
			return err
		}
		s := primaryStatus{Group: id, Role: "primary", Replica: st.Replica, State: st.State,
			Health: st.health(now), Frequency: time.Duration(st.Frequency).String(),
			LastTime: st.LastTime.UTC(), Statistics: st.stats()}
		if !st.LastPoint.IsZero() {
			s.LastPoint = st.LastPoint.String()
		}
		for i, v := range st.Volumes {
			s.Volumes = append(s.Volumes, volumeJSON{Name: v, Size: st.Sizes[i]})
		}
		out = append(out, s)
	}
	if asJSON {
		return writeJSON(env.stdout, out)
	}
	tw := tabwriter.NewWriter(env.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "GROUP\tROLE\tSTATE\tHEALTH\tREPLICA\tLAST POINT\tCYCLES\tERRORS\tREASONS")
	for _, s := range out {
		last := "-"
		if !s.LastTime.IsZero() {
			last = s.LastTime.Format(time.RFC3339)
		}
		fmt.Fprintf(tw, "%s\tprimary\t%s\t%s\t%s\t%s\t%d\t%d\t%s\n", s.Group, s.State, s.Health.Level, s.Replica, last,
			s.Statistics.SuccessfulCycles, s.Statistics.Errors, joinReasons(s.Health.Reasons))
	}
	return tw.Flush()
}

func joinReasons(r []string) string {
	if len(r) == 0 {
		return "-"
	}
	out := r[0]
	for _, s := range r[1:] {
		out += "; " + s
	}
	return out
}
