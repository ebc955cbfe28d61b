package replica

import (
	"fmt"
	"time"

	"github.com/blockrep/blockrep/checkpoint"
	"github.com/blockrep/blockrep/delta"
	"github.com/blockrep/blockrep/transport"
)

// The replication protocol between a primary and a replica runs over one
// transport.Conn per relationship. Every message is one frame: a type byte,
// then the message's fields, then a checksum, all integers big-endian:
//
//	frame  = type (u8), fields, crc (u32: CRC-32C, Castagnoli, of type
//	         and fields)
//
//	str8   = u8 length, bytes          (ids: 1..255 bytes)
//	str16  = u16 length, bytes         (Nack text: ≤ MaxNackMessage)
//	blob32 = u32 length, bytes         (metadata: ≤ MaxMeta; failover
//	                                    settings: ≤ MaxFailoverSettings)
//	point  = 16 bytes (delta.PointID)  hash = 32 bytes (delta.Hash)
//	time   = i64 nanoseconds since the Unix epoch, UTC; 0 = none
//
// A connection opens with the primary's Hello, answered by Status or Nack.
// Then the primary sends requests, one at a time, each answered before the
// next: StatusQuery → Status; CreateGroup → Ack or Nack; DeltaStart,
// followed by the delta stream as transport.Writer frames ending with an
// empty frame → Ack or Nack. After a Nack to a DeltaStart the replica closes
// the connection (the rest of the stream would otherwise be taken for
// messages). Every request names its group, and the replica checks the
// peer's authorization for that group on every request.
//
// The checksum is checked first: a control message damaged on the way (a
// network without TLS, a faulty link) is refused with ErrProtocol rather
// than read as another message, like any malformed frame — the replica
// Nacks or ends the session and the primary retries. The delta stream's
// frames carry no such checksum: the delta format checksums its own
// records.
//
// Every length is checked against its limit and the bytes left in the
// frame before anything is allocated; a frame with bytes left over, an
// unknown type, a flag byte other than 0 or 1, or an invalid id is refused
// with ErrProtocol.
const (
	// ProtocolVersion is the protocol version this package speaks: 2
	// since an initial copy travels as a version 2 delta stream (data
	// runs, delta/FORMAT.md). A primary says it in its Hello, so a replica
	// that reads version 1 streams only refuses with ErrVersion before any
	// delta, instead of failing on the stream.
	ProtocolVersion = 2

	// MinProtocolVersion is the oldest version a replica accepts: a
	// version 1 primary sends version 1 streams, which this package reads.
	MinProtocolVersion = 1

	// MaxNackMessage bounds the text of a Nack, in bytes.
	MaxNackMessage = 1024

	// MaxFailoverSettings bounds a group's opaque failover settings.
	MaxFailoverSettings = 64 << 10

	// MaxMessageSize bounds one control message (not the delta frames). It
	// is far below transport.MaxFrameSize.
	MaxMessageSize = delta.MaxMeta + MaxFailoverSettings + 128<<10
)

// msgType is the first byte of every message.
type msgType uint8

const (
	msgHello       msgType = 1
	msgStatus      msgType = 2
	msgStatusQuery msgType = 3
	msgCreateGroup msgType = 4
	msgDeltaStart  msgType = 5
	msgAck         msgType = 6
	msgNack        msgType = 7
)

func (t msgType) String() string {
	switch t {
	case msgHello:
		return "Hello"
	case msgStatus:
		return "Status"
	case msgStatusQuery:
		return "StatusQuery"
	case msgCreateGroup:
		return "CreateGroup"
	case msgDeltaStart:
		return "DeltaStart"
	case msgAck:
		return "Ack"
	case msgNack:
		return "Nack"
	case msgResyncQuery:
		return "ResyncQuery"
	case msgResyncHashes:
		return "ResyncHashes"
	case msgResyncPagesQuery:
		return "ResyncPagesQuery"
	case msgResyncPageHashes:
		return "ResyncPageHashes"
	case msgPromote:
		return "Promote"
	case msgReverseQuery:
		return "ReverseQuery"
	case msgReverseInfo:
		return "ReverseInfo"
	case msgPromoted:
		return "Promoted"
	case msgUpdateGroup:
		return "UpdateGroup"
	}
	return fmt.Sprintf("msgType(%d)", uint8(t))
}

// message is one protocol message.
type message interface {
	kind() msgType
}

// helloMsg opens a connection: the primary's protocol version, the group
// it comes for, and the last point of that group the replica acknowledged
// to it (zero before initial replication).
type helloMsg struct {
	Version uint16
	Group   string
	Point   delta.PointID
}

// statusQueryMsg asks for the status of a group.
type statusQueryMsg struct {
	Group string
}

// statusMsg is the replica's view of a group.
type statusMsg struct {
	Version uint16 // the protocol version the replica speaks
	Group   string
	Exists  bool
	State   State         // the group's replica-side state (StateNone if absent)
	Latest  delta.PointID // zero when there is no point
	Time    time.Time     // the latest point's instant, zero when none
	Points  uint32        // the length of the chain
}

// createGroupMsg asks the replica to create a group (Enable).
type createGroupMsg struct {
	Group     string
	BlockSize uint32
	Volumes   []delta.VolumeInfo
	Retention checkpoint.Retention
	Meta      []byte // opaque metadata (the VM configuration)
	Failover  []byte // opaque failover settings
}

// deltaStartMsg announces a delta stream for a group, from Base to New.
type deltaStartMsg struct {
	Group string
	Base  delta.PointID
	New   delta.PointID
}

// ackMsg acknowledges a request: for a delta, the committed point and its
// content hash, and whether it was a replay applied before.
type ackMsg struct {
	Group    string
	Point    delta.PointID
	Hash     delta.Hash
	Time     time.Time
	Replayed bool
}

// nackMsg refuses a request.
type nackMsg struct {
	Code    Code
	Message string
}

func (helloMsg) kind() msgType       { return msgHello }
func (statusQueryMsg) kind() msgType { return msgStatusQuery }
func (statusMsg) kind() msgType      { return msgStatus }
func (createGroupMsg) kind() msgType { return msgCreateGroup }
func (deltaStartMsg) kind() msgType  { return msgDeltaStart }
func (ackMsg) kind() msgType         { return msgAck }
func (nackMsg) kind() msgType        { return msgNack }

// Code says why a replica refused a request (the code of a Nack).
type Code uint8

// The Nack codes.
const (
	// CodeProtocol: the request was malformed or out of turn.
	CodeProtocol Code = iota + 1
	// CodeVersion: no common protocol version.
	CodeVersion
	// CodeUnauthorized: the peer may not replicate the group.
	CodeUnauthorized
	// CodeUnknownGroup: the replica has no such group.
	CodeUnknownGroup
	// CodeGroupExists: CreateGroup for a group the replica already holds
	// with other volumes or with recovery points.
	CodeGroupExists
	// CodeBaseMismatch: the delta's base is not the replica's latest point.
	CodeBaseMismatch
	// CodeVolumeMismatch: the delta's volumes are not the group's.
	CodeVolumeMismatch
	// CodeCorrupt: the delta stream failed verification.
	CodeCorrupt
	// CodeLimit: the delta exceeds a limit of the replica.
	CodeLimit
	// CodeInternal: the replica failed for a reason of its own.
	CodeInternal
	// CodeStateConflict: the group's state on the replica refuses the
	// request (a delta for a group failed over there).
	CodeStateConflict
	// CodeSplitBrain: both sides act as the group's primary (each wrote
	// past their last common point); an operator must choose the winner.
	CodeSplitBrain
	// CodeNoCommonPoint: the two sides share no recovery point to build
	// on, so only a full copy could bring them together.
	CodeNoCommonPoint
	// CodeSeedMissing: the request needs a copy on the replica (a seed or
	// an imported offline copy) that is not there yet.
	CodeSeedMissing

	codeCount
)

var codeNames = [codeCount]string{
	CodeProtocol:       "protocol",
	CodeVersion:        "version",
	CodeUnauthorized:   "unauthorized",
	CodeUnknownGroup:   "unknown group",
	CodeGroupExists:    "group exists",
	CodeBaseMismatch:   "base mismatch",
	CodeVolumeMismatch: "volume mismatch",
	CodeCorrupt:        "corrupt",
	CodeLimit:          "limit",
	CodeInternal:       "internal",
	CodeStateConflict:  "state conflict",
	CodeSplitBrain:     "split brain",
	CodeNoCommonPoint:  "no common point",
	CodeSeedMissing:    "seed missing",
}

// String returns the code's name.
func (c Code) String() string {
	if c > 0 && c < codeCount {
		return codeNames[c]
	}
	return fmt.Sprintf("Code(%d)", uint8(c))
}

// sentinel maps a code to the error a caller tests with errors.Is.
func (c Code) sentinel() error {
	switch c {
	case CodeProtocol:
		return ErrProtocol
	case CodeVersion:
		return ErrVersion
	case CodeUnauthorized:
		return transport.ErrUnauthorized
	case CodeUnknownGroup:
		return ErrUnknownGroup
	case CodeGroupExists:
		return ErrGroupExists
	case CodeBaseMismatch:
		return checkpoint.ErrBaseMismatch
	case CodeVolumeMismatch:
		return checkpoint.ErrVolumeMismatch
	case CodeCorrupt:
		return delta.ErrCorrupt
	case CodeLimit:
		return delta.ErrLimit
	case CodeStateConflict:
		return ErrInvalidState
	case CodeSplitBrain:
		return ErrSplitBrain
	case CodeNoCommonPoint:
		return ErrNoCommonPoint
	case CodeSeedMissing:
		return ErrSeedMissing
	}
	return ErrRemoteInternal
}
