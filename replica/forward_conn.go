package replica

import (
	"context"
	"errors"
	"fmt"

	"github.com/blockrep/blockrep/checkpoint"
	"github.com/blockrep/blockrep/delta"
	"github.com/blockrep/blockrep/transport"
)

// forwardConn is one forward's connection to the extended replica. To it
// the forwarding replica is a primary like any other: it speaks Hello,
// CreateGroup and DeltaStart with the stream. A forward dials anew each
// time: forwards are minutes apart, longer than transports keep idle
// connections.
type forwardConn struct {
	e    *extension
	conn transport.Conn
	buf  []byte

	// streamed is set once sendDelta wrote the whole stream: from then on
	// the extended replica may commit the point whatever happens to its
	// verdict.
	streamed bool
}

// dial connects to the extended replica and returns its status of the
// group.
func (e *extension) dial(ctx context.Context) (*forwardConn, statusMsg, error) {
	conn, err := e.h.cfg.Transport.Dial(ctx, e.cfg.Replica)
	if err != nil {
		return nil, statusMsg{}, fmt.Errorf("replica: dial extended replica %s: %w", e.cfg.Replica, err)
	}
	c := &forwardConn{e: e, conn: conn, buf: make([]byte, 0, 4<<10)}
	e.mu.Lock()
	last := e.last
	e.mu.Unlock()
	if err := sendMsg(ctx, conn, helloMsg{Version: ProtocolVersion, Group: e.group, Point: last}); err != nil {
		c.close()
		return nil, statusMsg{}, fmt.Errorf("replica: hello to extended replica %s: %w", e.cfg.Replica, err)
	}
	st, buf, err := expectReply[statusMsg](ctx, conn, c.buf)
	c.buf = buf
	if err != nil {
		c.close()
		return nil, statusMsg{}, fmt.Errorf("replica: hello to extended replica %s: %w", e.cfg.Replica, err)
	}
	if st.Group != e.group {
		c.close()
		return nil, statusMsg{}, fmt.Errorf("%w: status of group %q, want %q", ErrProtocol, st.Group, e.group)
	}
	return c, st, nil
}

func (c *forwardConn) close() { c.conn.Close() }

// createGroup creates the group on the extended replica with spec's
// volumes, block size and metadata record, and its own retention.
func (c *forwardConn) createGroup(ctx context.Context, spec checkpoint.GroupSpec, ret checkpoint.Retention) error {
	meta, settings, err := decodeGroupRecord(spec.Meta)
	if err != nil {
		meta, settings = spec.Meta, nil // a group made by other means: its raw blob
	}
	bs := spec.BlockSize
	if bs == 0 {
		bs = delta.DefaultBlockSize
	}
	m := createGroupMsg{Group: c.e.group, BlockSize: uint32(bs), Volumes: spec.Volumes, Retention: ret, Meta: meta, Failover: settings}
	if err := checkMessage(m); err != nil {
		return err
	}
	if err := sendMsg(ctx, c.conn, m); err != nil {
		return fmt.Errorf("replica: create group on extended replica: %w", err)
	}
	_, buf, err := expectReply[ackMsg](ctx, c.conn, c.buf)
	c.buf = buf
	if err != nil {
		return fmt.Errorf("replica: create group %q on extended replica %s: %w", c.e.group, c.e.cfg.Replica, err)
	}
	return nil
}

// sendDelta announces the delta hdr describes, streams src as it, and
// waits for the extended replica's verdict. The verdict is read while the
// stream goes out, so an early refusal stops the stream.
func (c *forwardConn) sendDelta(ctx context.Context, hdr delta.Header, src delta.Source, opts []delta.EncoderOption) (ackMsg, delta.EncodeStats, error) {
	var est delta.EncodeStats
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	if err := sendMsg(sctx, c.conn, deltaStartMsg{Group: hdr.Group, Base: hdr.Base, New: hdr.New}); err != nil {
		return ackMsg{}, est, fmt.Errorf("replica: forward %s: %w", hdr.New, err)
	}
	type verdict struct {
		ack ackMsg
		err error
	}
	vc := make(chan verdict, 1)
	go func() {
		a, _, err := expectReply[ackMsg](sctx, c.conn, c.buf)
		if err != nil {
			cancel()
		}
		vc <- verdict{a, err}
	}()
	w := transport.NewWriter(sctx, c.conn, c.e.cfg.ChunkSize)
	enc, err := delta.NewEncoder(w, hdr, append([]delta.EncoderOption{delta.WithCompression(true)}, opts...)...)
	if err == nil {
		est, err = enc.Encode(sctx, src)
	}
	if err == nil {
		err = w.Close()
	}
	c.streamed = err == nil
	// After a refusal the extended replica hangs up, so a stream cut by a
	// lost connection may have its Nack waiting; any other failure leaves
	// it waiting for more stream, and closing the connection ends the
	// reader.
	if err != nil && !errors.Is(err, transport.ErrConnectionLost) {
		cancel()
		c.close()
	}
	v := <-vc
	var remote *RemoteError
	switch {
	case errors.As(v.err, &remote):
		return ackMsg{}, est, fmt.Errorf("replica: forward %s refused by %s: %w", hdr.New, c.e.cfg.Replica, refusal(v.err))
	case err != nil:
		return ackMsg{}, est, fmt.Errorf("replica: forward %s: %w", hdr.New, err)
	case v.err != nil:
		return ackMsg{}, est, fmt.Errorf("replica: forward %s: %w", hdr.New, v.err)
	case v.ack.Point != hdr.New || v.ack.Group != hdr.Group:
		return ackMsg{}, est, fmt.Errorf("%w: acknowledgement of %s/%s, want %s/%s", ErrProtocol, v.ack.Group, v.ack.Point, hdr.Group, hdr.New)
	}
	return v.ack, est, nil
}
