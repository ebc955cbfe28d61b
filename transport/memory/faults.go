package memory

import "time"

// Faults says what happens to the frames crossing a connection in one
// direction. The zero value delivers every frame intact and at once.
// Probabilistic choices are drawn from a random source seeded from the
// network's seed and the connection's number, so a test that dials its
// connections in the same order sees the same faults on every run.
type Faults struct {
	// Drop, Duplicate and Corrupt are the probabilities (0 to 1) that a
	// frame is lost, delivered twice, or delivered with one bit flipped.
	// They are consulted in that order; the first that fires decides.
	Drop, Duplicate, Corrupt float64

	// Delay holds every frame back for this long on the network's clock
	// before the receiver can read it. Frames stay in order: a frame is
	// never readable before the one sent ahead of it.
	Delay time.Duration

	// CutAfter, when positive, cuts the connection once this many payload
	// bytes have been sent in this direction: the frames that fit entirely
	// are delivered, the one that would cross the mark is lost, and both
	// ends then see ErrConnectionLost.
	CutAfter int64

	// Hook, when set, decides the fate of each frame instead of Drop,
	// Duplicate and Corrupt (Delay and CutAfter still apply). It runs with
	// the connection's lock held and must not call back into the network.
	Hook func(FrameInfo) Action
}

// FrameInfo describes one frame offered to a Faults hook.
type FrameInfo struct {
	// From and To are the endpoint names of the sending and receiving side.
	From, To string
	// Conn numbers the connection within its network, from 1 in dial order.
	Conn uint64
	// Index counts the frames sent in this direction, from 0.
	Index int64
	// Offset is the number of payload bytes sent before this frame.
	Offset int64
	// Len is the frame's length.
	Len int
}

// Action is the fate of one frame chosen by a Faults hook.
type Action int

// The actions a Faults hook can choose.
const (
	// Deliver passes the frame on intact.
	Deliver Action = iota
	// Drop loses the frame silently; Send still reports success.
	Drop
	// Duplicate delivers the frame twice in a row.
	Duplicate
	// Corrupt delivers the frame with one bit flipped, at a position drawn
	// from the seeded random source. An empty frame is delivered as is.
	Corrupt
	// Cut loses the frame and cuts the connection: Send returns
	// ErrConnectionLost and so do both ends afterwards.
	Cut
)

// String returns the action's name.
func (a Action) String() string {
	switch a {
	case Deliver:
		return "deliver"
	case Drop:
		return "drop"
	case Duplicate:
		return "duplicate"
	case Corrupt:
		return "corrupt"
	case Cut:
		return "cut"
	}
	return "action(?)"
}

// Clock is the source of time for delayed frames. A test passes a fake
// whose channels it fires when it advances time, so no test sleeps.
type Clock interface {
	// After returns a channel that receives once d has elapsed.
	After(d time.Duration) <-chan time.Time
}

// realClock is the wall clock, the default.
type realClock struct{}

func (realClock) After(d time.Duration) <-chan time.Time { return time.After(d) }

func (f Faults) zero() bool {
	return f.Drop == 0 && f.Duplicate == 0 && f.Corrupt == 0 && f.Delay == 0 && f.CutAfter == 0 && f.Hook == nil
}
