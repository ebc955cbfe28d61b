package replicasim

import (
	"sync"
	"time"
)

// delayClock times the in-memory network's delayed frames (memory.Clock).
// A delayed frame becomes readable when the clock's own goroutine releases
// it, in the order the frames were sent, so a delay hands the frame to
// another goroutine (the receiver waits for it) without the simulation's
// fake host clock having to move and without anything sleeping.
//
// The channel is closed rather than sent on: transport/memory gives a
// duplicated frame the same channel as the original, and a channel that
// delivers one value would leave the duplicate unreadable for ever (see
// TestMemoryDuplicateDelayedFrame).
type delayClock struct {
	reqs chan chan time.Time
	stop chan struct{}
	wg   sync.WaitGroup
}

func newDelayClock() *delayClock {
	c := &delayClock{reqs: make(chan chan time.Time, 4096), stop: make(chan struct{})}
	c.wg.Add(1)
	go c.loop()
	return c
}

// After implements memory.Clock. It never blocks: the network calls it with
// a lock held.
func (c *delayClock) After(time.Duration) <-chan time.Time {
	ch := make(chan time.Time, 1)
	select {
	case c.reqs <- ch:
	default:
		close(ch) // queue full: released at once
	}
	return ch
}

func (c *delayClock) loop() {
	defer c.wg.Done()
	for {
		select {
		case ch := <-c.reqs:
			close(ch)
		case <-c.stop:
			for {
				select {
				case ch := <-c.reqs:
					close(ch)
				default:
					return
				}
			}
		}
	}
}

// close stops the goroutine, releasing what is queued.
func (c *delayClock) close() {
	close(c.stop)
	c.wg.Wait()
}
