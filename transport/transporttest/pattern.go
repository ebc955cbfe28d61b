package transporttest

import "encoding/binary"

// Fill writes into p the bytes at offset off of an endless deterministic
// pattern (p's length and off must be multiples of 8), so a receiver can
// check a transfer of any size without keeping a copy of it.
func Fill(p []byte, off int64) {
	x := uint64(off) / 8
	for i := 0; i+8 <= len(p); i += 8 {
		v := (x + uint64(i/8) + 1) * 0x9E3779B97F4A7C15
		binary.LittleEndian.PutUint64(p[i:], v^v>>29)
	}
}
