package memory_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/blockrep/blockrep/transport/memory"
	"github.com/blockrep/blockrep/transport/transporttest"
)

func TestConformance(t *testing.T) {
	transporttest.Run(t, func(t *testing.T) transporttest.Pair {
		n, err := memory.NewNetwork(1)
		require.NoError(t, err)
		return transporttest.Pair{
			Dialer:       n.Endpoint("primary"),
			Listener:     n.Endpoint("replica"),
			ListenAddr:   "replica:7000",
			DialerName:   "primary",
			ListenerName: "replica",
		}
	})
}
