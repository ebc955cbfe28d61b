package checkpoint

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"

	"github.com/blockrep/blockrep/delta"
)

// Hash file: the live image's block hash lists, one per volume, rewritten
// (as a new file named by the manifest) with every commit.
//
//	"BRHASH1\n" | u32 volumes | per volume: u64 length | delta.HashList binary | u32 CRC-32C of all before
const hashMagic = "BRHASH1\n"

func encodeHashes(lists []*delta.HashList) ([]byte, error) {
	b := []byte(hashMagic)
	b = binary.LittleEndian.AppendUint32(b, uint32(len(lists)))
	for _, l := range lists {
		at := len(b)
		b = append(b, 0, 0, 0, 0, 0, 0, 0, 0)
		var err error
		if b, err = l.AppendBinary(b); err != nil {
			return nil, err
		}
		binary.LittleEndian.PutUint64(b[at:], uint64(len(b)-at-8))
	}
	return binary.LittleEndian.AppendUint32(b, crc32.Checksum(b, castagnoli)), nil
}

// maxHashFileSize is the largest hash file a group with these geometries
// can have; larger files are refused before reading.
func maxHashFileSize(geoms []delta.Geometry) int64 {
	n := int64(len(hashMagic) + 8)
	for _, g := range geoms {
		n += 8 + 64 + g.Blocks()*int64(len(delta.Hash{}))
	}
	return n
}

func decodeHashes(b []byte, geoms []delta.Geometry) ([]*delta.HashList, error) {
	if len(b) < len(hashMagic)+8 || string(b[:len(hashMagic)]) != hashMagic {
		return nil, fmt.Errorf("bad header")
	}
	body := b[:len(b)-4]
	if crc32.Checksum(body, castagnoli) != binary.LittleEndian.Uint32(b[len(body):]) {
		return nil, fmt.Errorf("checksum mismatch")
	}
	p := len(hashMagic)
	if int(binary.LittleEndian.Uint32(body[p:])) != len(geoms) {
		return nil, fmt.Errorf("volume count does not match the group")
	}
	p += 4
	lists := make([]*delta.HashList, len(geoms))
	for v, g := range geoms {
		if len(body)-p < 8 {
			return nil, fmt.Errorf("volume %d: truncated", v)
		}
		n := binary.LittleEndian.Uint64(body[p:])
		p += 8
		if n > uint64(len(body)-p) {
			return nil, fmt.Errorf("volume %d: length %d past the end", v, n)
		}
		l, used, err := delta.UnmarshalHashList(body[p:p+int(n)], g.Blocks())
		if err != nil {
			return nil, fmt.Errorf("volume %d: %w", v, err)
		}
		if uint64(used) != n || l.Geometry() != g {
			return nil, fmt.Errorf("volume %d: hash list does not fit the volume", v)
		}
		lists[v] = l
		p += int(n)
	}
	if p != len(body) {
		return nil, fmt.Errorf("%d trailing bytes", len(body)-p)
	}
	return lists, nil
}
