//go:build !windows

package vfs

import "os"

// syncDirHandle fsyncs an open directory.
func syncDirHandle(d *os.File) error { return d.Sync() }
