package checkpointtest_test

import (
	"testing"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/blockrep/blockrep/checkpoint"
	"github.com/blockrep/blockrep/checkpoint/checkpointtest"
	"github.com/blockrep/blockrep/checkpoint/vfs"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// The directory store passes the suite on the in-memory and the real
// filesystem.
func TestDirStoreMem(t *testing.T) {
	checkpointtest.Run(t, func(t *testing.T) checkpoint.Store {
		st, err := checkpoint.Open(vfs.NewMem(), "store")
		require.NoError(t, err)
		return st
	})
}

func TestDirStoreOS(t *testing.T) {
	checkpointtest.Run(t, func(t *testing.T) checkpoint.Store {
		st, err := checkpoint.Open(vfs.OS(), t.TempDir())
		require.NoError(t, err)
		return st
	})
}
