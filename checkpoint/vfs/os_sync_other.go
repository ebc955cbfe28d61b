//go:build windows || plan9

package vfs

import "os"

// syncDirHandle does nothing where directories cannot be fsynced: there the
// filesystem commits directory changes itself.
func syncDirHandle(*os.File) error { return nil }
