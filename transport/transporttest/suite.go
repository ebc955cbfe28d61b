package transporttest

import (
	"testing"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/blockrep/blockrep/transport"
)

// Pair is what the suite needs from an implementation: two transports that
// can reach each other, where to listen, and the identities each side must
// see of the other.
type Pair struct {
	// Dialer dials; Listener listens at ListenAddr.
	Dialer, Listener transport.Transport
	ListenAddr       string

	// DialerName is the Identity.Name the accepted side must see;
	// ListenerName the one the dialing side must see.
	DialerName, ListenerName string

	// FrameLimit is the frame limit both sides are configured with; zero
	// means transport.MaxFrameSize.
	FrameLimit int

	// Insecure says the transports do not authenticate peers: the suite
	// then expects Identity.Authenticated to be false.
	Insecure bool
}

// HeapGrowthLimit bounds how far the heap in use may grow above its level
// before the large transfer, measured while it runs.
const HeapGrowthLimit = 64 << 20

// Run runs the conformance suite: every implementation of
// transport.Transport must pass it. newPair is called once per subtest and
// must give fresh transports; the subtests run one after another and each
// checks that it leaves no goroutine behind.
func Run(t *testing.T, newPair func(t *testing.T) Pair) {
	tests := []struct {
		name string
		fn   func(t *testing.T, p Pair)
	}{
		{"Ordering", testOrdering},
		{"FrameBoundaries", testFrameBoundaries},
		{"RecvBuffer", testRecvBuffer},
		{"Bidirectional", testBidirectional},
		{"StreamThenMessages", testStreamThenMessages},
		{"LargeTransfer", testLargeTransfer},
		{"ConcurrentConnections", testConcurrentConnections},
		{"CancelDial", testCancelDial},
		{"CancelAccept", testCancelAccept},
		{"CancelSend", testCancelSend},
		{"CancelRecv", testCancelRecv},
		{"CloseByDialer", testCloseByDialer},
		{"CloseByListener", testCloseByListener},
		{"CloseUnblocksLocal", testCloseUnblocksLocal},
		{"CloseUnblocksSend", testCloseUnblocksSend},
		{"PeerCloseUnblocksSend", testPeerCloseUnblocksSend},
		{"ListenerClose", testListenerClose},
		{"PeerIdentity", testPeerIdentity},
		{"FrameTooLarge", testFrameTooLarge},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ignore := goleak.IgnoreCurrent()
			t.Cleanup(func() { goleak.VerifyNone(t, ignore) }) // registered first, runs last
			p := newPair(t)
			if p.FrameLimit == 0 {
				p.FrameLimit = transport.MaxFrameSize
			}
			tc.fn(t, p)
		})
	}
}

// Connect listens on p.Listener, dials it from p.Dialer and returns both
// ends, the listener and a cleanup registered with t that closes them.
func Connect(t *testing.T, p Pair) (dialed, accepted transport.Conn, l transport.Listener) {
	t.Helper()
	ctx := t.Context()
	l, err := p.Listener.Listen(ctx, p.ListenAddr)
	require.NoError(t, err)
	t.Cleanup(func() { _ = l.Close() })
	dialed, accepted = Dial(t, p.Dialer, l)
	return dialed, accepted, l
}

// Dial dials l from d and accepts the connection; both ends are closed by
// a cleanup registered with t.
func Dial(t *testing.T, d transport.Transport, l transport.Listener) (dialed, accepted transport.Conn) {
	t.Helper()
	ctx := t.Context()
	type result struct {
		c   transport.Conn
		err error
	}
	acc := make(chan result, 1)
	go func() {
		c, err := l.Accept(ctx)
		acc <- result{c, err}
	}()
	dialed, err := d.Dial(ctx, l.Addr())
	if err != nil {
		_ = l.Close() // unblocks the Accept above
		<-acc
		require.NoError(t, err, "dial")
	}
	t.Cleanup(func() { _ = dialed.Close() })
	r := <-acc
	require.NoError(t, r.err, "accept")
	t.Cleanup(func() { _ = r.c.Close() })
	return dialed, r.c
}
