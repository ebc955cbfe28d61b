package replica

import (
	"context"
	"errors"
	"fmt"
)

// recheckRefusal looks, after a cycle whose delta failed on the transport,
// whether the replica refused it: a replica that refuses a stream sends
// its Nack and hangs up while the stream still arrives, and over TCP the
// hang-up can reset the connection before the Nack is read, so the cycle
// sees a lost connection where there was a verdict. A new connection's
// status tells: when the group is failed over there, the error becomes the
// ErrReplicaFailedOver the Nack would have given (the transport error stays
// wrapped). Any other outcome — the replica unreachable, replicating — leaves
// err as it is. The op slot is held and the connection is closed on return.
func (r *Relationship) recheckRefusal(ctx context.Context, err error) error {
	var remote *RemoteError
	if err == nil || ctx.Err() != nil || errors.As(err, &remote) || errors.Is(err, ErrReplicaFailedOver) {
		return err
	}
	r.closeConn()
	defer r.closeConn()
	st, cerr := r.connect(ctx)
	if cerr != nil || st == nil {
		return err
	}
	if st.Exists {
		r.roles.replicaState.Store(uint32(st.State))
	}
	if ferr := failedOver(st); ferr != nil {
		return fmt.Errorf("%w (its refusal was lost with the connection: %w)", ferr, err)
	}
	return err
}
