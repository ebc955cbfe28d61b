// Package transporttest is the conformance suite every implementation of
// transport.Transport must pass, with helpers for tests that need a
// connected pair.
//
// # The suite
//
// [Run] takes a function that builds a fresh [Pair] of transports and runs
// subtests for ordering, frame boundaries, buffer reuse, both directions at
// once, a stream followed by messages, a large transfer in bounded memory
// ([LargeTransfer] bytes, less under the race detector or -short),
// concurrent connections, cancellation of Dial, Accept, Send and Recv,
// closing from either side (a Close wakes a blocked Recv or Send on this
// end, and a blocked Send on the other), listener close, peer identities
// and the frame limit. Each subtest fails if it leaves a goroutine behind.
//
// The suite never sleeps to synchronise and asserts no wall-clock time;
// the only timing it depends on is the implementation's own (a Send to a
// peer that never reads must block, not fail at once).
//
// # Helpers
//
// [Connect] and [Dial] return both ends of a connection, closed when the
// test ends; [Fill] writes a deterministic pattern a receiver can check
// without keeping a copy of what was sent.
package transporttest
