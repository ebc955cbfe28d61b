package replica

import (
	"bytes"
	"fmt"

	"github.com/blockrep/blockrep/delta"
)

// A replica keeps a group's metadata blob and failover settings together
// in the checkpoint store's metadata, as a group record:
//
//	magic "BRGR1" (5 bytes), blob32 metadata, blob32 failover settings
//
// so that both survive a restart of the replica host and reach a later
// failover.
var groupRecordMagic = []byte("BRGR1")

func encodeGroupRecord(meta, failover []byte) []byte {
	b := append([]byte(nil), groupRecordMagic...)
	b = appendBlob32(b, meta)
	return appendBlob32(b, failover)
}

// decodeGroupRecord parses a group record; its error wraps ErrProtocol.
func decodeGroupRecord(b []byte) (meta, failover []byte, err error) {
	if !bytes.HasPrefix(b, groupRecordMagic) {
		return nil, nil, fmt.Errorf("%w: group record without its magic", ErrProtocol)
	}
	r := &wireReader{b: b, off: len(groupRecordMagic)}
	meta = r.blob32(delta.MaxMeta)
	failover = r.blob32(MaxFailoverSettings)
	if r.err == nil && r.left() != 0 {
		r.fail("%d bytes after the group record", r.left())
	}
	if r.err != nil {
		return nil, nil, r.err
	}
	return meta, failover, nil
}
