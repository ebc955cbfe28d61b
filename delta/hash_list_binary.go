package delta

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"
)

// Binary form of a HashList, all integers little-endian:
//
//	magic "BRHL" | version 1 | size u64 | block size u32 | blocks u64 |
//	blocks × 32-byte hash | CRC-32C u32 of everything before it
const (
	hashListMagic   = "BRHL"
	hashListVersion = 1
	hashListHeader  = 4 + 1 + 8 + 4 + 8
	hashTrailer     = 4 // CRC-32C shared by the HashList and PageHashes forms
)

var hashCastagnoli = crc32.MakeTable(crc32.Castagnoli)

// AppendBinary appends the binary form of l to b: a header with the
// geometry, the hashes and a CRC-32C that catches a torn or damaged file.
func (l *HashList) AppendBinary(b []byte) ([]byte, error) {
	start := len(b)
	b = append(b, hashListMagic...)
	b = append(b, hashListVersion)
	b = binary.LittleEndian.AppendUint64(b, uint64(l.g.Size))
	b = binary.LittleEndian.AppendUint32(b, uint32(l.g.BlockSize))
	b = binary.LittleEndian.AppendUint64(b, uint64(len(l.hashes)))
	for i := range l.hashes {
		b = append(b, l.hashes[i][:]...)
	}
	return binary.LittleEndian.AppendUint32(b, crc32.Checksum(b[start:], hashCastagnoli)), nil
}

// MarshalBinary returns the form described at AppendBinary.
func (l *HashList) MarshalBinary() ([]byte, error) {
	return l.AppendBinary(make([]byte, 0, hashListHeader+HashSize*len(l.hashes)+hashTrailer))
}

// UnmarshalHashList decodes a HashList written by AppendBinary from the
// front of b and returns it with the number of bytes consumed. A list of
// more than maxBlocks blocks gives an error wrapping ErrLimit before
// anything is allocated; malformed input, a geometry that does not
// validate or a checksum mismatch gives a *CorruptError.
func UnmarshalHashList(b []byte, maxBlocks int64) (*HashList, int, error) {
	if len(b) < hashListHeader+hashTrailer {
		return nil, 0, corrupt(int64(len(b)), "hash list: truncated header")
	}
	if string(b[:4]) != hashListMagic {
		return nil, 0, corrupt(0, "hash list: bad magic")
	}
	if b[4] != hashListVersion {
		return nil, 0, corrupt(4, fmt.Sprintf("hash list: unknown version %d", b[4]))
	}
	size := binary.LittleEndian.Uint64(b[5:])
	bs := binary.LittleEndian.Uint32(b[13:])
	n := binary.LittleEndian.Uint64(b[17:])
	if size > MaxVolumeSize {
		return nil, 0, corrupt(5, fmt.Sprintf("hash list: volume size %d out of range", size))
	}
	g := Geometry{Size: int64(size), BlockSize: int(bs)}
	if err := g.Validate(); err != nil {
		return nil, 0, corrupt(13, "hash list: "+err.Error())
	}
	if n != uint64(g.Blocks()) {
		return nil, 0, corrupt(17, fmt.Sprintf("hash list: %d hashes for a volume of %d blocks", n, g.Blocks()))
	}
	if maxBlocks < 0 || n > uint64(maxBlocks) {
		return nil, 0, fmt.Errorf("%w: hash list of %d blocks exceeds limit %d", ErrLimit, n, maxBlocks)
	}
	// n ≤ MaxVolumeSize/MinBlockSize, so the product cannot overflow.
	end := hashListHeader + HashSize*int64(n)
	if int64(len(b)) < end+hashTrailer {
		return nil, 0, corrupt(int64(len(b)), "hash list: truncated hashes")
	}
	if err := hashCheckCRC(b[:end+hashTrailer], end); err != nil {
		return nil, 0, err
	}
	l := &HashList{g: g, hashes: make([]Hash, n)}
	for i := range l.hashes {
		copy(l.hashes[i][:], b[hashListHeader+HashSize*i:])
	}
	return l, int(end + hashTrailer), nil
}

// hashCheckCRC verifies the CRC-32C at b[end:end+4] over b[:end].
func hashCheckCRC(b []byte, end int64) error {
	if crc32.Checksum(b[:end], hashCastagnoli) != binary.LittleEndian.Uint32(b[end:]) {
		return corrupt(end, "checksum mismatch")
	}
	return nil
}
