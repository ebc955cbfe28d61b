package replica

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/blockrep/blockrep/delta"
	"github.com/blockrep/blockrep/transport"
)

// outDelta is one delta a relationship sends: the blocks of src, on top of
// the replica's point base, as a new point of instant at. what names it in
// errors ("delta", "resync delta").
type outDelta struct {
	what string
	src  delta.Source
	base delta.PointID
	at   time.Time
	cons delta.Consistency
	opts []delta.EncoderOption
}

// sendDelta announces d under a new point id, streams it and waits for the
// replica's verdict, which is read while the stream goes out so that an
// early refusal stops the stream at once. The new id is in doubt from the
// announcement on: if the acknowledgement is lost, the next status tells
// whether the replica committed it. It returns the acknowledgement of the
// new point and the encoder's statistics. After a failure the connection
// is unusable: the caller closes it.
func (r *Relationship) sendDelta(ctx context.Context, d outDelta) (ackMsg, delta.EncodeStats, error) {
	var est delta.EncodeStats
	newID, err := delta.NewPointID(r.host.cfg.Rand)
	if err != nil {
		return ackMsg{}, est, err
	}
	h := delta.Header{
		Group:       r.cfg.ID,
		Base:        d.base,
		New:         newID,
		Time:        d.at,
		Consistency: d.cons,
		BlockSize:   r.cfg.BlockSize,
		Volumes:     r.infos,
	}
	opts := append([]delta.EncoderOption{delta.WithCompression(!r.cfg.NoCompression)}, fullStreamOpts(d.base)...)
	opts = append(opts, d.opts...)

	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	conn := r.conn
	if err := sendMsg(sctx, conn, deltaStartMsg{Group: r.cfg.ID, Base: d.base, New: newID}); err != nil {
		return ackMsg{}, est, fmt.Errorf("replica: send %s: %w", d.what, err)
	}
	r.mu.Lock()
	r.doubtLocked(newID)
	r.mu.Unlock()

	type verdict struct {
		ack ackMsg
		err error
	}
	vc := make(chan verdict, 1)
	buf := r.buf
	go func() {
		a, _, err := expectReply[ackMsg](sctx, conn, buf)
		if err != nil {
			cancel()
		}
		vc <- verdict{a, err}
	}()
	w := transport.NewWriter(sctx, conn, streamChunk(d.src, r.host.cfg.ChunkSize)) // delta_chunk.go
	enc, err := delta.NewEncoder(w, h, opts...)
	if err == nil {
		est, err = enc.Encode(sctx, d.src)
	}
	if err == nil {
		err = w.Close()
	}
	// A replica that refuses a stream answers with a Nack and hangs up, so
	// a stream that ran into a lost connection may have its verdict
	// waiting: it is read before the end of the connection (the reader
	// then returns). Any other failure leaves the replica waiting for the
	// rest of the stream, so the connection is closed to end the reader.
	if err != nil && !errors.Is(err, transport.ErrConnectionLost) {
		cancel()
		conn.Close()
	}
	v := <-vc
	var remote *RemoteError
	switch {
	case errors.As(v.err, &remote):
		return ackMsg{}, est, fmt.Errorf("replica: %s %s refused: %w", d.what, newID, refusal(v.err))
	case err != nil && v.err != nil && ctx.Err() == nil && errors.Is(err, context.Canceled):
		// The reader failed first and cancelled the stream: its error is
		// the cause (a lost connection), not the cancellation.
		return ackMsg{}, est, fmt.Errorf("replica: %s %s: %w", d.what, newID, v.err)
	case err != nil:
		return ackMsg{}, est, fmt.Errorf("replica: send %s %s: %w", d.what, newID, err)
	case v.err != nil:
		return ackMsg{}, est, fmt.Errorf("replica: %s %s: %w", d.what, newID, v.err)
	case v.ack.Point != newID || v.ack.Group != r.cfg.ID:
		return ackMsg{}, est, fmt.Errorf("%w: acknowledgement of %s/%s, want %s/%s", ErrProtocol, v.ack.Group, v.ack.Point, r.cfg.ID, newID)
	}
	return v.ack, est, nil
}
