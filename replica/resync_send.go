package replica

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/blockrep/blockrep/delta"
	"github.com/blockrep/blockrep/transport"
)

// sendResync streams src as a delta on top of the replica's point base and
// waits for the acknowledgement of the new point.
func (r *Relationship) sendResync(ctx context.Context, src delta.Source, base delta.PointID, at time.Time, res *ResyncResult) (ackMsg, delta.EncodeStats, error) {
	var est delta.EncodeStats
	newID, err := delta.NewPointID(r.host.cfg.Rand)
	if err != nil {
		return ackMsg{}, est, err
	}
	h := delta.Header{
		Group:       r.cfg.ID,
		Base:        base,
		New:         newID,
		Time:        at,
		Consistency: delta.ConsistencyCrash,
		BlockSize:   r.cfg.BlockSize,
		Volumes:     r.infos,
	}
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	conn := r.conn
	if err := sendMsg(sctx, conn, deltaStartMsg{Group: r.cfg.ID, Base: base, New: newID}); err != nil {
		return ackMsg{}, est, fmt.Errorf("replica: send resync delta: %w", err)
	}
	r.mu.Lock()
	r.inDoubt = newID
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
	w := transport.NewWriter(sctx, conn, r.host.cfg.ChunkSize)
	enc, err := delta.NewEncoder(w, h, delta.WithCompression(!r.cfg.NoCompression))
	if err == nil {
		est, err = enc.Encode(sctx, src)
	}
	if err == nil {
		err = w.Close()
	}
	if err != nil {
		cancel()
		conn.Close()
	}
	v := <-vc
	var remote *RemoteError
	switch {
	case errors.As(v.err, &remote):
		return ackMsg{}, est, fmt.Errorf("replica: resync delta %s refused: %w", newID, refusal(v.err))
	case err != nil:
		return ackMsg{}, est, fmt.Errorf("replica: send resync delta %s: %w", newID, err)
	case v.err != nil:
		return ackMsg{}, est, fmt.Errorf("replica: resync delta %s: %w", newID, v.err)
	case v.ack.Point != newID || v.ack.Group != r.cfg.ID:
		return ackMsg{}, est, fmt.Errorf("%w: acknowledgement of %s/%s, want %s/%s", ErrProtocol, v.ack.Group, v.ack.Point, r.cfg.ID, newID)
	}
	return v.ack, est, nil
}
