package memory

import (
	"errors"
	"fmt"
	"sync"

	"github.com/blockrep/blockrep/transport"
)

// Defaults of the network's options.
const (
	// DefaultWindow is the default bound, in bytes, on the frames buffered
	// in one direction of a connection before Send blocks.
	DefaultWindow = 4 << 20
	// DefaultBacklog is the default number of dialed connections a
	// listener holds before Dial fails with ErrTooManyConnections.
	DefaultBacklog = 64
)

// ErrAddressInUse is returned by Listen when another listener of the
// network already listens at the address.
var ErrAddressInUse = errors.New("memory: address in use")

// ErrOption is returned by NewNetwork for an option out of its bounds.
var ErrOption = errors.New("memory: invalid option")

// Option configures a Network.
type Option func(*options) error

type options struct {
	frameLimit int
	window     int
	backlog    int
	clock      Clock
}

// WithFrameLimit bounds the size of one frame (default transport.MaxFrameSize).
func WithFrameLimit(n int) Option {
	return func(o *options) error {
		if n <= 0 {
			return fmt.Errorf("%w: frame limit %d, want > 0", ErrOption, n)
		}
		o.frameLimit = n
		return nil
	}
}

// WithWindow bounds the bytes buffered in one direction of a connection
// (default DefaultWindow). Send blocks while the window is full; a single
// frame larger than the window still passes once the buffer is empty.
func WithWindow(n int) Option {
	return func(o *options) error {
		if n <= 0 {
			return fmt.Errorf("%w: window %d, want > 0", ErrOption, n)
		}
		o.window = n
		return nil
	}
}

// WithBacklog bounds the dialed connections a listener holds before they
// are accepted (default DefaultBacklog).
func WithBacklog(n int) Option {
	return func(o *options) error {
		if n <= 0 {
			return fmt.Errorf("%w: backlog %d, want > 0", ErrOption, n)
		}
		o.backlog = n
		return nil
	}
}

// WithClock sets the clock that times Faults.Delay (default: the wall
// clock).
func WithClock(c Clock) Option {
	return func(o *options) error {
		if c == nil {
			return fmt.Errorf("%w: nil clock", ErrOption)
		}
		o.clock = c
		return nil
	}
}

// Network is an in-memory network of named endpoints. It is safe for
// concurrent use and starts no goroutines.
type Network struct {
	seed int64
	opts options

	mu          sync.Mutex
	listeners   map[string]*listener
	partitioned map[pair]bool
	faults      map[route]Faults
	conns       map[*Conn]struct{} // dialer ends of open connections
	nextConn    uint64
}

// pair is an unordered pair of endpoint names.
type pair struct{ a, b string }

func newPair(a, b string) pair {
	if b < a {
		a, b = b, a
	}
	return pair{a, b}
}

// route is one direction between two endpoint names.
type route struct{ from, to string }

// NewNetwork returns an empty network whose random faults are drawn from
// sources seeded with seed.
func NewNetwork(seed int64, opts ...Option) (*Network, error) {
	o := options{frameLimit: transport.MaxFrameSize, window: DefaultWindow, backlog: DefaultBacklog, clock: realClock{}}
	for _, opt := range opts {
		if err := opt(&o); err != nil {
			return nil, err
		}
	}
	return &Network{
		seed:        seed,
		opts:        o,
		listeners:   make(map[string]*listener),
		partitioned: make(map[pair]bool),
		faults:      make(map[route]Faults),
		conns:       make(map[*Conn]struct{}),
	}, nil
}

// Endpoint returns the transport of the endpoint called name. Connections
// it dials carry name as their authenticated identity; connections it
// accepts report the dialer's endpoint name. Calling Endpoint twice with
// one name gives two handles on the same endpoint.
func (n *Network) Endpoint(name string) *Endpoint {
	return &Endpoint{net: n, name: name}
}

// Partition cuts the network between endpoints a and b: dials between them
// fail with ErrUnreachable and their open connections are cut (frames
// already buffered are still delivered, then both ends see
// ErrConnectionLost).
func (n *Network) Partition(a, b string) {
	n.mu.Lock()
	n.partitioned[newPair(a, b)] = true
	var cut []*Conn
	for c := range n.conns {
		if newPair(c.local, c.remote) == newPair(a, b) {
			cut = append(cut, c)
		}
	}
	n.mu.Unlock()
	for _, c := range cut {
		c.cut()
	}
}

// Heal lifts a partition between a and b. Connections cut by it stay cut.
func (n *Network) Heal(a, b string) {
	n.mu.Lock()
	delete(n.partitioned, newPair(a, b))
	n.mu.Unlock()
}

// HealAll lifts every partition.
func (n *Network) HealAll() {
	n.mu.Lock()
	clear(n.partitioned)
	n.mu.Unlock()
}

// SetFaults applies f to the frames sent from endpoint from to endpoint to,
// on open connections and new ones, unless a connection has its own faults
// (Conn.SetFaults). The zero Faults removes them.
func (n *Network) SetFaults(from, to string, f Faults) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if f.zero() {
		delete(n.faults, route{from, to})
		return
	}
	n.faults[route{from, to}] = f
}

func (n *Network) faultsFor(from, to string) Faults {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.faults[route{from, to}]
}

func (n *Network) forget(c *Conn) {
	n.mu.Lock()
	delete(n.conns, c)
	n.mu.Unlock()
}
