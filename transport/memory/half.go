package memory

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/blockrep/blockrep/transport"
)

// half is one direction of a connection: a bounded queue of frames from a
// sending Conn to a receiving one.
type half struct {
	net      *Network
	from, to string
	id       uint64
	peer     *half // the other direction, cut together with this one

	override atomic.Pointer[Faults] // per-connection faults, nil = the network's

	mu        sync.Mutex
	rng       *rand.Rand
	q         []queued
	queued    int           // payload bytes in q
	wake      chan struct{} // closed and replaced on every change
	wclosed   bool          // the sender closed its Conn: io.EOF once drained
	rclosed   bool          // the receiver closed its Conn: nothing more moves
	lost      bool          // cut: ErrConnectionLost once drained
	index     int64         // frames offered
	sent      int64         // payload bytes offered
	free      [][]byte      // drained frame buffers kept for reuse
	freeBytes int
}

type queued struct {
	b     []byte
	ready <-chan time.Time // nil once the frame may be read
}

func newHalf(n *Network, from, to string, id uint64, rng *rand.Rand) *half {
	return &half{net: n, from: from, to: to, id: id, rng: rng, wake: make(chan struct{})}
}

// signal wakes whoever waits on the half; called with mu held.
func (h *half) signal() {
	close(h.wake)
	h.wake = make(chan struct{})
}

func (h *half) faults() Faults {
	if f := h.override.Load(); f != nil {
		return *f
	}
	return h.net.faultsFor(h.from, h.to)
}

// send queues msg, waiting for room in the window. A ctx error is returned
// as is for the Conn to close itself.
func (h *half) send(ctx context.Context, msg []byte) error {
	if len(msg) > h.net.opts.frameLimit {
		return fmt.Errorf("memory: send to %s: %d bytes over the limit of %d: %w", h.to, len(msg), h.net.opts.frameLimit, transport.ErrFrameTooLarge)
	}
	f := h.faults()
	window := h.net.opts.window
	h.mu.Lock()
	for {
		switch {
		case h.wclosed:
			h.mu.Unlock()
			return fmt.Errorf("memory: send to %s: %w", h.to, transport.ErrClosed)
		case h.lost:
			h.mu.Unlock()
			return fmt.Errorf("memory: send to %s: connection cut: %w", h.to, transport.ErrConnectionLost)
		case h.rclosed:
			h.mu.Unlock()
			return fmt.Errorf("memory: send to %s: peer closed the connection: %w", h.to, transport.ErrConnectionLost)
		}
		if h.queued == 0 || h.queued+len(msg) <= window {
			break
		}
		wake := h.wake
		h.mu.Unlock()
		select {
		case <-wake:
		case <-ctx.Done():
			return ctx.Err()
		}
		h.mu.Lock()
	}

	info := FrameInfo{From: h.from, To: h.to, Conn: h.id, Index: h.index, Offset: h.sent, Len: len(msg)}
	h.index++
	action := h.decide(f, info)
	if f.CutAfter > 0 && h.sent+int64(len(msg)) > f.CutAfter {
		action = Cut
	}
	h.sent += int64(len(msg))
	switch action {
	case Drop:
		h.mu.Unlock()
		return nil
	case Cut:
		h.lost = true
		h.signal()
		h.mu.Unlock()
		h.peer.cut()
		return fmt.Errorf("memory: send to %s: connection cut after %d bytes: %w", h.to, info.Offset, transport.ErrConnectionLost)
	}
	var ready <-chan time.Time
	if f.Delay > 0 {
		ready = h.net.opts.clock.After(f.Delay)
	}
	b := h.take(len(msg))
	copy(b, msg)
	if action == Corrupt && len(b) > 0 {
		bit := h.rng.IntN(len(b) * 8)
		b[bit/8] ^= 1 << (bit % 8)
	}
	h.q = append(h.q, queued{b: b, ready: ready})
	h.queued += len(b)
	if action == Duplicate {
		d := h.take(len(b))
		copy(d, b)
		// The copy needs a timer of its own: a clock's channel delivers
		// once, and the original's reader takes that one value.
		var dready <-chan time.Time
		if f.Delay > 0 {
			dready = h.net.opts.clock.After(f.Delay)
		}
		h.q = append(h.q, queued{b: d, ready: dready})
		h.queued += len(d)
	}
	h.signal()
	h.mu.Unlock()
	return nil
}

// decide draws a frame's fate; called with mu held.
func (h *half) decide(f Faults, info FrameInfo) Action {
	if f.Hook != nil {
		return f.Hook(info)
	}
	switch {
	case f.Drop > 0 && h.rng.Float64() < f.Drop:
		return Drop
	case f.Duplicate > 0 && h.rng.Float64() < f.Duplicate:
		return Duplicate
	case f.Corrupt > 0 && h.rng.Float64() < f.Corrupt:
		return Corrupt
	}
	return Deliver
}

// take returns a buffer of length n, reusing a drained one when it fits;
// called with mu held.
func (h *half) take(n int) []byte {
	for i, b := range h.free {
		if cap(b) >= n {
			last := len(h.free) - 1
			h.free[i] = h.free[last]
			h.free[last] = nil
			h.free = h.free[:last]
			h.freeBytes -= cap(b)
			return b[:n]
		}
	}
	return make([]byte, n)
}

// recycle keeps a drained buffer while the kept ones stay within a window;
// called with mu held.
func (h *half) recycle(b []byte) {
	if cap(b) == 0 || h.freeBytes+cap(b) > h.net.opts.window+h.net.opts.frameLimit {
		return
	}
	h.free = append(h.free, b)
	h.freeBytes += cap(b)
}

// recv takes the next readable frame. A ctx error is returned as is for the
// Conn to close itself.
func (h *half) recv(ctx context.Context, buf []byte) ([]byte, error) {
	h.mu.Lock()
	for {
		if h.rclosed {
			h.mu.Unlock()
			return nil, fmt.Errorf("memory: recv from %s: %w", h.from, transport.ErrClosed)
		}
		var ready <-chan time.Time
		if len(h.q) > 0 {
			if ready = h.q[0].ready; ready == nil {
				return h.pop(buf), nil
			}
		} else if h.lost {
			h.mu.Unlock()
			return nil, fmt.Errorf("memory: recv from %s: connection cut: %w", h.from, transport.ErrConnectionLost)
		} else if h.wclosed {
			h.mu.Unlock()
			return nil, io.EOF
		}
		wake := h.wake
		h.mu.Unlock()
		select {
		case <-ready:
			h.mu.Lock()
			if len(h.q) > 0 && h.q[0].ready == ready {
				h.q[0].ready = nil
			}
			continue
		case <-wake:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		h.mu.Lock()
	}
}

// pop removes the head frame and returns it in buf's storage when it fits;
// called with mu held, it releases it.
func (h *half) pop(buf []byte) []byte {
	f := h.q[0]
	h.q[0] = queued{}
	h.q = h.q[1:]
	if len(h.q) == 0 {
		h.q = h.q[:0:0]
	}
	h.queued -= len(f.b)
	var out []byte
	if cap(buf) >= len(f.b) {
		out = buf[:len(f.b)]
		copy(out, f.b)
		h.recycle(f.b)
	} else {
		out = f.b // handed over: the caller owns it now
	}
	h.signal()
	h.mu.Unlock()
	return out
}

// cut marks the direction lost and wakes both ends.
func (h *half) cut() {
	h.mu.Lock()
	if !h.lost {
		h.lost = true
		h.signal()
	}
	h.mu.Unlock()
}

// closeWriter records that the sender closed its Conn.
func (h *half) closeWriter() {
	h.mu.Lock()
	h.wclosed = true
	h.signal()
	h.mu.Unlock()
}

// closeReader records that the receiver closed its Conn and drops what it
// will never read.
func (h *half) closeReader() {
	h.mu.Lock()
	h.rclosed = true
	clear(h.q)
	h.q = nil
	h.queued = 0
	h.free = nil
	h.freeBytes = 0
	h.signal()
	h.mu.Unlock()
}

func (h *half) readable() bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.q) == 0 || h.rclosed {
		return false
	}
	if r := h.q[0].ready; r != nil {
		select {
		case <-r:
			h.q[0].ready = nil
		default:
			return false
		}
	}
	return true
}
