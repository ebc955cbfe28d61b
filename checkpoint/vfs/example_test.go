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

// The standard crash loop: learn the operations of a clean run, then crash
// at each one in turn and look at what a reboot finds.
func ExampleMemFS_CrashAt() {
	save := func(fsys vfs.FS, data string) error {
		f, err := fsys.Create("state.tmp")
		if err != nil {
			return err
		}
		defer f.Close()
		if _, err := f.Write([]byte(data)); err != nil {
			return err
		}
		if err := f.Sync(); err != nil {
			return err
		}
		if err := fsys.Rename("state.tmp", "state"); err != nil {
			return err
		}
		return fsys.SyncDir(".")
	}
	fresh := func() *vfs.MemFS {
		m := vfs.NewMem()
		must(save(m, "v1"))
		return m
	}

	clean := fresh()
	var ops []vfs.Op
	clean.SetHook(func(op vfs.Op) error { ops = append(ops, op); return nil })
	must(save(clean, "v2"))

	for n, op := range ops {
		m := fresh()
		m.CrashAt(int64(n))
		err := save(m, "v2")
		state, _ := m.Crash().ReadFile("state")
		fmt.Printf("crash at %-8s %-9s -> %s (crashed: %v)\n", op.Kind, op.Path, state, errors.Is(err, vfs.ErrCrashed))
	}
	m := fresh()
	must(save(m, "v2"))
	state, _ := m.Crash().ReadFile("state")
	fmt.Printf("crash after save             -> %s\n", state)
	// Output:
	// crash at create   state.tmp -> v1 (crashed: true)
	// crash at write    state.tmp -> v1 (crashed: true)
	// crash at sync     state.tmp -> v1 (crashed: true)
	// crash at rename   state.tmp -> v1 (crashed: true)
	// crash at syncdir  .         -> v1 (crashed: true)
	// crash after save             -> v2
}

func must(err error) {
	if err != nil {
		panic(err)
	}
}
