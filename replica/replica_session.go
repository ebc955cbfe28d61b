package replica

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"

	"github.com/blockrep/blockrep/checkpoint"
	"github.com/blockrep/blockrep/delta"
	"github.com/blockrep/blockrep/transport"
)

// session serves one primary's connection.
type session struct {
	h    *ReplicaHost
	conn transport.Conn
	peer transport.Identity
	log  *slog.Logger
	buf  []byte
	tree resyncTree // the hash tree resync queries read
	ver  uint16     // the protocol version of the primary's first Hello
}

// errSessionEnd ends a session after a refusal that leaves the connection
// unusable (a Nack to a delta whose stream may still be in flight).
var errSessionEnd = errors.New("replica: session ended after a refusal")

func (s *session) serve(ctx context.Context) error {
	s.buf = make([]byte, 0, 4<<10)
	m, err := s.recv(ctx)
	if err != nil {
		return err
	}
	hello, ok := m.(helloMsg)
	if !ok {
		s.nack(ctx, CodeProtocol, fmt.Sprintf("first message is %s, want Hello", m.kind()))
		return fmt.Errorf("%w: first message %s", ErrProtocol, m.kind())
	}
	if hello.Version < MinProtocolVersion || hello.Version > ProtocolVersion {
		s.nack(ctx, CodeVersion, fmt.Sprintf("protocol version %d not spoken, this replica speaks %d to %d", hello.Version, MinProtocolVersion, ProtocolVersion))
		return fmt.Errorf("%w: primary speaks %d", ErrVersion, hello.Version)
	}
	s.ver = hello.Version
	if err := s.handle(ctx, statusQueryMsg{Group: hello.Group}); err != nil {
		return err
	}
	for {
		m, err := s.recv(ctx)
		if err != nil {
			return err
		}
		if err := s.handle(ctx, m); err != nil {
			return err
		}
	}
}

// recv reads the next request; a malformed one is answered with a Nack.
func (s *session) recv(ctx context.Context) (message, error) {
	m, buf, err := recvMsg(ctx, s.conn, s.buf)
	s.buf = buf
	if errors.Is(err, ErrProtocol) {
		s.nack(ctx, CodeProtocol, err.Error())
	}
	return m, err
}

func (s *session) nack(ctx context.Context, code Code, text string) {
	if err := sendMsg(ctx, s.conn, nackMsg{Code: code, Message: text}); err != nil {
		s.log.Debug("nack not delivered", "err", err)
	}
}

// authorize checks the peer for group; a refusal is answered here.
func (s *session) authorize(ctx context.Context, group string) bool {
	if _, err := s.h.cfg.Authorizer.Authorize(s.peer, group); err != nil {
		s.log.Warn("request refused", "group", group, "err", err)
		s.nack(ctx, CodeUnauthorized, fmt.Sprintf("peer %q may not replicate group %q", s.peer.Name, group))
		return false
	}
	s.h.touch(group)
	return true
}

// handle answers one request. A non-nil error ends the session.
func (s *session) handle(ctx context.Context, m message) error {
	switch m := m.(type) {
	case helloMsg:
		if m.Version != s.ver {
			s.nack(ctx, CodeVersion, "protocol version changed on an open connection")
			return fmt.Errorf("%w: %d", ErrVersion, m.Version)
		}
		return s.handle(ctx, statusQueryMsg{Group: m.Group})
	case statusQueryMsg:
		if !s.authorize(ctx, m.Group) {
			return nil
		}
		st, err := s.status(ctx, m.Group)
		if err != nil {
			s.nack(ctx, CodeInternal, err.Error())
			return nil
		}
		return sendMsg(ctx, s.conn, st)
	case createGroupMsg:
		if !s.authorize(ctx, m.Group) {
			return nil
		}
		if code, err := s.createGroup(ctx, m); err != nil {
			s.log.Warn("create group refused", "group", m.Group, "err", err)
			s.nack(ctx, code, err.Error())
			return nil
		}
		s.log.Info("group created", "group", m.Group, "volumes", len(m.Volumes))
		return sendMsg(ctx, s.conn, ackMsg{Group: m.Group})
	case deltaStartMsg:
		if !s.authorize(ctx, m.Group) {
			return errSessionEnd
		}
		ack, err := s.applyDelta(ctx, m)
		if err != nil {
			s.log.Warn("delta refused", "group", m.Group, "new", m.New, "err", err)
			s.nack(ctx, codeOf(err), err.Error())
			return errSessionEnd
		}
		return sendMsg(ctx, s.conn, ack)
	case resyncQueryMsg:
		return s.resyncQuery(ctx, m)
	case resyncPagesQueryMsg:
		return s.resyncPagesQuery(ctx, m) // resync_pages_replica.go
	case updateGroupMsg:
		if !s.authorize(ctx, m.Group) {
			return nil
		}
		if code, err := s.updateGroup(ctx, m); err != nil { // update_group_replica.go
			s.log.Warn("group update refused", "group", m.Group, "err", err)
			s.nack(ctx, code, err.Error())
			return nil
		}
		return sendMsg(ctx, s.conn, ackMsg{Group: m.Group})
	case promoteMsg:
		return s.promote(ctx, m) // planned_failover_replica.go
	case reverseQueryMsg:
		return s.reverseQuery(ctx, m) // reverse_replica.go
	default:
		s.nack(ctx, CodeProtocol, fmt.Sprintf("unexpected %s", m.kind()))
		return fmt.Errorf("%w: unexpected %s", ErrProtocol, m.kind())
	}
}

// status describes group id.
func (s *session) status(ctx context.Context, id string) (statusMsg, error) {
	st := statusMsg{Version: ProtocolVersion, Group: id}
	g, err := s.h.openGroup(ctx, id)
	if errors.Is(err, checkpoint.ErrUnknownGroup) {
		return st, nil
	}
	if err != nil {
		return st, err
	}
	points, err := g.Points(ctx)
	if err != nil {
		return st, err
	}
	st.Exists, st.State, st.Points = true, s.h.groupState(id), uint32(len(points))
	if n := len(points); n > 0 {
		st.Latest, st.Time = points[n-1].ID, points[n-1].Time
	}
	return st, nil
}

// createGroup creates the group, or accepts a repeated request for a group
// that exists with the same volumes and no point yet (a retried Enable).
func (s *session) createGroup(ctx context.Context, m createGroupMsg) (Code, error) {
	spec := checkpoint.GroupSpec{
		Volumes:   m.Volumes,
		BlockSize: int(m.BlockSize),
		Meta:      encodeGroupRecord(m.Meta, m.Failover),
		Retention: m.Retention,
	}
	storage, err := s.h.storageOf(s.peer, m.Group)
	if err == nil {
		_, err = s.h.createGroupIn(ctx, storage, m.Group, spec) // stores.go
	}
	switch {
	case err == nil:
		return 0, nil
	case errors.Is(err, checkpoint.ErrInvalidSpec), errors.Is(err, checkpoint.ErrInvalidGroupID):
		return CodeProtocol, err
	case errors.Is(err, ErrGroupExists): // in another storage location
		return CodeGroupExists, err
	case !errors.Is(err, checkpoint.ErrGroupExists):
		return CodeInternal, err
	}
	g, gerr := s.h.openGroup(ctx, m.Group)
	if gerr != nil {
		return CodeInternal, gerr
	}
	have := g.Spec()
	points, perr := g.Points(ctx)
	if perr != nil {
		return CodeInternal, perr
	}
	if len(points) > 0 || have.BlockSize != spec.BlockSize || !slices.Equal(have.Volumes, spec.Volumes) || !bytes.Equal(have.Meta, spec.Meta) {
		return CodeGroupExists, fmt.Errorf("%w: %q holds %d points of %d volumes", ErrGroupExists, m.Group, len(points), len(have.Volumes))
	}
	return 0, nil
}

// applyDelta reads the stream that follows m into the group's Apply,
// which stages and verifies it before changing anything.
func (s *session) applyDelta(ctx context.Context, m deltaStartMsg) (ackMsg, error) {
	g, err := s.h.openGroup(ctx, m.Group)
	if err != nil {
		return ackMsg{}, err
	}
	// A group failed over refuses deltas; a failover waits for this one.
	done, err := s.h.beginApply(m.Group)
	if err != nil {
		return ackMsg{}, err
	}
	defer done()
	in := transport.NewReader(ctx, s.conn)
	res, err := g.Apply(ctx, in)
	if err != nil {
		return ackMsg{}, err
	}
	// The stream's end marker must follow its trailer; reading it here
	// leaves the connection at the next message.
	var extra [1]byte
	if n, err := io.ReadFull(in, extra[:]); n > 0 || !errors.Is(err, io.EOF) {
		if err == nil {
			err = fmt.Errorf("%w: data after the delta stream's trailer", ErrProtocol)
		}
		return ackMsg{}, err
	}
	if res.Point.ID != m.New {
		// The stream carried another point than announced: it was applied
		// (it verified), but the primary must not take this ack for its own.
		return ackMsg{}, fmt.Errorf("%w: announced point %s, stream made %s", ErrProtocol, m.New, res.Point.ID)
	}
	s.log.Info("delta applied", "group", m.Group, "point", res.Point.ID, "bytes", res.Point.Size, "replayed", res.Replayed)
	s.h.releaseSeed(ctx, g, m.Base) // seed.go
	return ackMsg{Group: m.Group, Point: res.Point.ID, Hash: res.Point.Hash, Time: res.Point.Time, Replayed: res.Replayed}, nil
}

// codeOf maps an apply error to its Nack code.
func codeOf(err error) Code {
	switch {
	case errors.Is(err, transport.ErrUnauthorized):
		return CodeUnauthorized
	case errors.Is(err, ErrVersion):
		return CodeVersion
	case errors.Is(err, checkpoint.ErrUnknownGroup), errors.Is(err, ErrUnknownGroup):
		return CodeUnknownGroup
	case errors.Is(err, ErrGroupExists), errors.Is(err, checkpoint.ErrGroupExists):
		return CodeGroupExists
	case errors.Is(err, checkpoint.ErrBaseMismatch), errors.Is(err, delta.ErrMismatch):
		return CodeBaseMismatch
	case errors.Is(err, checkpoint.ErrVolumeMismatch):
		return CodeVolumeMismatch
	case errors.Is(err, delta.ErrCorrupt):
		return CodeCorrupt
	case errors.Is(err, delta.ErrLimit):
		return CodeLimit
	case errors.Is(err, ErrSplitBrain):
		return CodeSplitBrain
	case errors.Is(err, ErrNoCommonPoint):
		return CodeNoCommonPoint
	case errors.Is(err, ErrSeedMissing):
		return CodeSeedMissing
	case errors.Is(err, ErrInvalidState):
		return CodeStateConflict
	case errors.Is(err, ErrProtocol):
		return CodeProtocol
	}
	return CodeInternal
}
