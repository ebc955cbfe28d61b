package vfs_test

import (
	"errors"
	"fmt"
	"os"
	"syscall"

	"github.com/blockrep/blockrep/checkpoint/vfs"
)

// Write a synced and an unsynced record, replace a file atomically, then
// crash: only what was synced, and named by a synced directory, survives.
func ExampleMemFS_Crash() {
	m := vfs.NewMem()
	must(m.MkdirAll("store", 0o755))
	must(m.SyncDir("."))

	log, err := m.Create("store/log")
	must(err)
	_, err = log.Write([]byte("record 1;"))
	must(err)
	must(log.Sync())
	_, err = log.Write([]byte("record 2;")) // never synced
	must(err)

	// The atomic-replace pattern: temp-write, fsync, rename, fsync(dir).
	tmp, err := m.Create("store/state.tmp")
	must(err)
	_, err = tmp.Write([]byte("state v1"))
	must(err)
	must(tmp.Sync())
	must(tmp.Close())
	must(m.Rename("store/state.tmp", "store/state"))
	must(m.SyncDir("store"))

	// Created after the last SyncDir of its directory: lost.
	orphan, err := m.Create("store/orphan")
	must(err)
	must(orphan.Sync())

	after := m.Crash()
	_, err = log.Write([]byte("too late"))
	fmt.Println("old handle crashed:", errors.Is(err, vfs.ErrCrashed))

	for _, name := range []string{"store/log", "store/state", "store/state.tmp", "store/orphan"} {
		b, err := after.ReadFile(name)
		if err != nil {
			fmt.Printf("%s: missing (%v)\n", name, errors.Is(err, os.ErrNotExist))
			continue
		}
		fmt.Printf("%s: %q\n", name, b)
	}
	// Output:
	// old handle crashed: true
	// store/log: "record 1;"
	// store/state: "state v1"
	// store/state.tmp: missing (true)
	// store/orphan: missing (true)
}

// Fail the second write with an injected error, and run out of space.
func ExampleFailAt() {
	m := vfs.NewMem()
	m.SetHook(vfs.FailAt(1, vfs.OpWrite))
	f, err := m.Create("f")
	must(err)
	_, err = f.Write([]byte("one"))
	fmt.Println("write 0:", err)
	_, err = f.Write([]byte("two"))
	fmt.Println("write 1 injected:", errors.Is(err, vfs.ErrInjected))

	m.SetHook(nil)
	m.SetCapacity(5)
	_, err = f.Write([]byte("three"))
	fmt.Println("disk full:", errors.Is(err, syscall.ENOSPC))
	b, _ := m.ReadFile("f")
	fmt.Printf("content: %q, ops: %d\n", b, m.Ops())
	// Output:
	// write 0: <nil>
	// write 1 injected: true
	// disk full: true
	// content: "one", ops: 4
}

func must(err error) {
	if err != nil {
		panic(err)
	}
}
