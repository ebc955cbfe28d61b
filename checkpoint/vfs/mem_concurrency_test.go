package vfs

import (
	"bytes"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestConcurrentUse runs writers on their own files, writers on disjoint
// ranges of one shared file and readers of the tree at the same time; the
// race detector checks the locking, the assertions the outcome.
func TestConcurrentUse(t *testing.T) {
	const workers, rounds, chunk = 6, 40, 100
	m := NewMem()
	require.NoError(t, m.MkdirAll("own", 0o755))
	require.NoError(t, m.SyncDir("."))
	shared, err := m.Create("shared")
	require.NoError(t, err)
	defer shared.Close()
	var hooked atomic.Int64
	m.SetHook(func(Op) error { hooked.Add(1); return nil })

	errs := make(chan error, 2*workers+1)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			errs <- func() error {
				name := fmt.Sprintf("own/%d", w)
				for r := range rounds {
					body := bytes.Repeat([]byte{byte('a' + w)}, r+1)
					f, err := m.Create(name + ".tmp")
					if err != nil {
						return err
					}
					if _, err := f.Write(body); err != nil {
						return err
					}
					if err := f.Sync(); err != nil {
						return err
					}
					if err := f.Close(); err != nil {
						return err
					}
					if err := m.Rename(name+".tmp", name); err != nil {
						return err
					}
					if err := m.SyncDir("own"); err != nil {
						return err
					}
				}
				return nil
			}()
		})
		wg.Go(func() {
			errs <- func() error {
				for r := range rounds {
					off := int64((w*rounds + r) * chunk)
					if _, err := shared.WriteAt(bytes.Repeat([]byte{byte(w)}, chunk), off); err != nil {
						return err
					}
				}
				return shared.Sync()
			}()
		})
	}
	stop := make(chan struct{})
	wg.Go(func() {
		errs <- func() error {
			for {
				select {
				case <-stop:
					return nil
				default:
				}
				if _, err := m.ReadDir("own"); err != nil {
					return err
				}
				_ = m.Snapshot()
				_ = m.Ops()
				_ = m.Clone()
			}
		}()
	})
	// Wait for the writers (every goroutine but the reader), then stop the reader.
	done := make(chan struct{})
	go func() {
		for range 2 * workers {
			if err := <-errs; err != nil {
				t.Error(err)
			}
		}
		close(done)
	}()
	<-done
	close(stop)
	wg.Wait()
	require.NoError(t, <-errs)

	snap := m.Crash().Snapshot()
	for w := range workers {
		assert.Equal(t, bytes.Repeat([]byte{byte('a' + w)}, rounds), snap[fmt.Sprintf("own/%d", w)], "worker %d", w)
	}
	want := make([]byte, workers*rounds*chunk)
	for i := range want {
		want[i] = byte(i / (rounds * chunk))
	}
	// shared was created but its directory never synced.
	_, kept := snap["shared"]
	assert.False(t, kept)
	got, err := m.ReadFile("shared")
	require.NoError(t, err)
	assert.Equal(t, want, got)
	// Three operations ran before the hook was set.
	assert.Equal(t, m.Ops()-3, hooked.Load(), "the hook saw every counted operation")
	// Per round: create, write, sync, rename, syncdir; shared: writes and a sync.
	assert.Equal(t, int64(3+workers*rounds*5+workers*(rounds+1)), m.OpCount(OpMkdir, OpCreate, OpWrite, OpSync, OpRename, OpSyncDir))
}

// TestConcurrentAppend has goroutines append through one
// O_APPEND handle: every record lands whole.
func TestConcurrentAppend(t *testing.T) {
	m := NewMem()
	f, err := m.OpenFile("log", os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	require.NoError(t, err)
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Go(func() {
			for range 50 {
				_, err := f.Write([]byte{'<', byte('0' + w), '>'})
				assert.NoError(t, err)
			}
		})
	}
	wg.Wait()
	require.NoError(t, f.Close())
	got, err := m.ReadFile("log")
	require.NoError(t, err)
	require.Len(t, got, 4*50*3)
	counts := map[byte]int{}
	for i := 0; i < len(got); i += 3 {
		require.Equal(t, byte('<'), got[i])
		require.Equal(t, byte('>'), got[i+2])
		counts[got[i+1]]++
	}
	assert.Equal(t, map[byte]int{'0': 50, '1': 50, '2': 50, '3': 50}, counts)
}
