package replica

import (
	"strconv"
	"testing"
	"time"

	"github.com/blockrep/blockrep/checkpoint"
	"github.com/blockrep/blockrep/delta"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// FuzzLabelRetention feeds media labels, which come from an untrusted
// disk, to the retention parser: it never panics, whatever it accepts is
// in range, and what it accepts formats back to labels it reads the same.
func FuzzLabelRetention(f *testing.F) {
	f.Add("3", "2h0m0s", "true")
	f.Add("0", "0s", "false")
	f.Add("-1", "1h", "true")
	f.Add("4096", "1h", "true")
	f.Add("1", "-5s", "false")
	f.Add("", "", "")
	f.Add("99999999999999999999", "9999999999h", "yes")
	f.Fuzz(func(t *testing.T, n, gap, app string) {
		ret, err := labelRetention(map[string]string{labelRetentionN: n, labelRetentionGap: gap, labelRetentionApp: app})
		if err != nil {
			require.ErrorIs(t, err, delta.ErrCorrupt)
			return
		}
		require.GreaterOrEqual(t, ret.Additional, 0)
		require.Less(t, ret.Additional, checkpoint.MaxPoints)
		require.GreaterOrEqual(t, ret.Spacing, time.Duration(0))
		again, err := labelRetention(map[string]string{
			labelRetentionN:   strconv.Itoa(ret.Additional),
			labelRetentionGap: ret.Spacing.String(),
			labelRetentionApp: strconv.FormatBool(ret.KeepApp),
		})
		require.NoError(t, err)
		assert.Equal(t, ret, again)
	})
}
