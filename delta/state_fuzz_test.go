package delta

import (
	"errors"
	"testing"
)

// FuzzTrackerState opens arbitrary bytes as a state file. Properties: no
// panic; the only refusal is ErrTrackingLost (the fake file never fails);
// a refused file is left unchanged; an accepted one yields sets of the
// group's sizes, and a clean close reopens to exactly the same sets.
func FuzzTrackerState(f *testing.F) {
	geoms := []Geometry{{Size: 1 << 20, BlockSize: 64 << 10}, {Size: 512<<10 + 3000, BlockSize: 16 << 10}}
	seed := func(script func(tr *Tracker)) []byte {
		file := newCrashFile(nil)
		tr, err := CreateTrackerFile(file, geoms, WithExtentBlocks(4))
		if err != nil {
			f.Fatal(err)
		}
		script(tr)
		return file.content()
	}
	f.Add(seed(func(tr *Tracker) { tr.Close() }))
	f.Add(seed(func(tr *Tracker) {
		tr.Mark(0, 0, 1)
		tr.Mark(1, 100000, 50000)
		tr.Close()
	}))
	f.Add(seed(func(tr *Tracker) { // unclean: log records in force
		tr.Mark(0, 5<<16, 1)
		tr.Mark(1, 0, 1)
	}))
	f.Add([]byte{})
	f.Add(make([]byte, stateDataStart+100))

	f.Fuzz(func(t *testing.T, data []byte) {
		file := newCrashFile(data)
		tr, err := OpenTrackerFile(file, geoms)
		if err != nil {
			if !errors.Is(err, ErrTrackingLost) {
				t.Fatalf("refusal without ErrTrackingLost: %v", err)
			}
			if string(file.content()) != string(data) {
				t.Fatal("a refused state file was changed")
			}
			return
		}
		var before []*Set
		for vol, g := range geoms {
			s, err := tr.Dirty(vol)
			if err != nil || s.Len() != g.Blocks() {
				t.Fatalf("volume %d: set over %d blocks, want %d (%v)", vol, s.Len(), g.Blocks(), err)
			}
			before = append(before, s)
		}
		if err := tr.Close(); err != nil {
			t.Fatal(err)
		}
		tr, err = OpenTrackerFile(newCrashFile(file.content()), geoms)
		if err != nil {
			t.Fatalf("reopen after clean close: %v", err)
		}
		defer tr.Close()
		for vol := range geoms {
			s, _ := tr.Dirty(vol)
			if !s.Equal(before[vol]) {
				t.Fatalf("volume %d: reopened set differs", vol)
			}
		}
	})
}
