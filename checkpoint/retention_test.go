package checkpoint

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"

	"github.com/blockrep/blockrep/delta"
)

func TestRetentionKeep(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	// points builds a chain at the given minutes after t0; a negative
	// minute marks an app-consistent point at -minute.
	points := func(minutes ...int) []Point {
		var ps []Point
		for i, m := range minutes {
			p := Point{ID: delta.PointID{byte(i + 1)}}
			if m < 0 {
				m, p.Consistency = -m, delta.ConsistencyApp
			}
			p.Time = t0.Add(time.Duration(m) * time.Minute)
			ps = append(ps, p)
		}
		return ps
	}
	for _, tc := range []struct {
		name    string
		r       Retention
		minutes []int
		want    string // one letter per point: k kept, . pruned
	}{
		{"latest only", Retention{}, []int{0, 60, 120}, "..k"},
		{"empty", Retention{Additional: 3}, nil, ""},
		{"one", Retention{Additional: 3}, []int{5}, "k"},
		{"hourly, all kept", Retention{Additional: 3}, []int{0, 60, 120, 180}, "kkkk"},
		{"hourly, window", Retention{Additional: 2}, []int{0, 60, 120, 180}, ".kkk"},
		{"newest of each hour", Retention{Additional: 5}, []int{0, 20, 40, 65, 100, 130}, "..k.kk"},
		{"latest hour's others go", Retention{Additional: 5}, []int{50, 125, 130, 135}, "k..k"},
		{"gap of hours", Retention{Additional: 2}, []int{0, 300, 301, 600}, "k.kk"},
		{"spacing", Retention{Additional: 2, Spacing: 10 * time.Minute}, []int{0, 5, 12, 18, 25, 31}, "...kkk"},
		{"app preferred", Retention{Additional: 2, KeepApp: true}, []int{0, -10, 50, 70, -80, 90, 130}, ".k..k.k"},
		{"app not preferred", Retention{Additional: 2}, []int{0, -10, 50, 70, -80, 90, 130}, "..k..kk"},
		{"24 hourly of 30", Retention{Additional: 23}, hours(30), "......" + repeat("k", 24)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			keep := tc.r.keep(points(tc.minutes...))
			got := ""
			for _, k := range keep {
				if k {
					got += "k"
				} else {
					got += "."
				}
			}
			assert.Equal(t, tc.want, got)
		})
	}
}

func hours(n int) []int {
	var m []int
	for i := range n {
		m = append(m, 60*i)
	}
	return m
}

func repeat(s string, n int) string {
	out := ""
	for range n {
		out += s
	}
	return out
}
