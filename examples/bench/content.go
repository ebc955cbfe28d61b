package main

import (
	"encoding/binary"
	"math/rand/v2"
	"slices"
)

// content makes seeded, mixed volume content: zero blocks, text-like blocks
// (words from a small vocabulary, compressible about as well as logs and
// configuration files) and random blocks (compressed data, encrypted files).
type content struct {
	rng  *rand.Rand
	src  *rand.ChaCha8
	text []byte
}

// Shares of the block kinds of a volume, in percent.
const (
	zeroShare = 25
	textShare = 40 // the rest is random
)

func newContent(seed uint64, salt uint64) *content {
	var key [32]byte
	binary.LittleEndian.PutUint64(key[0:], seed)
	binary.LittleEndian.PutUint64(key[8:], salt)
	src := rand.NewChaCha8(key)
	c := &content{rng: rand.New(src), src: src}
	c.text = makeText(rand.New(rand.NewPCG(seed, 0x7e47)), 1<<20)
	return c
}

// makeText returns n bytes of lines made of words from a vocabulary of 2000.
func makeText(rng *rand.Rand, n int) []byte {
	words := make([][]byte, 2000)
	for i := range words {
		w := make([]byte, 2+rng.IntN(9))
		for j := range w {
			w[j] = 'a' + byte(rng.IntN(26))
		}
		words[i] = w
	}
	out := make([]byte, 0, n+16)
	line := 0
	for len(out) < n {
		// Zipf-like: a few words are frequent, most are rare.
		w := words[int(float64(len(words))*rng.Float64()*rng.Float64())]
		out = append(out, w...)
		line += len(w) + 1
		if line > 60+rng.IntN(40) {
			out = append(out, '\n')
			line = 0
		} else {
			out = append(out, ' ')
		}
	}
	return out[:n]
}

// volumeBlock fills p with one block of volume content: zero, text or random.
func (c *content) volumeBlock(p []byte) {
	switch k := c.rng.IntN(100); {
	case k < zeroShare:
		clear(p)
	case k < zeroShare+textShare:
		c.textFill(p)
	default:
		c.randomFill(p)
	}
}

// dataFill fills p with data a host writes: text or random, never zero.
func (c *content) dataFill(p []byte) {
	if c.rng.IntN(textShare+100-zeroShare-textShare) < textShare {
		c.textFill(p)
	} else {
		c.randomFill(p)
	}
}

func (c *content) textFill(p []byte) {
	off := c.rng.IntN(len(c.text) - len(p) + 1)
	copy(p, c.text[off:])
}

func (c *content) randomFill(p []byte) {
	_, _ = c.src.Read(p)
}

// write is one write of a change: data at off.
type write struct {
	off  int64
	data []byte
}

// makeChange returns the change of one round: count distinct blocks of a
// volume of size bytes, each written once with one 4 KiB page at a random
// page of the block, in random order. The same arguments give the same change,
// so the parent and a child process make it alike.
func makeChange(seed, salt uint64, size, count int64) []write {
	c := newContent(seed, salt)
	nblocks := size / blockSize
	count = min(max(count, 1), nblocks)
	seen := make(map[int64]bool, count)
	writes := make([]write, 0, count)
	buf := make([]byte, count*pageSize)
	for int64(len(writes)) < count {
		b := c.rng.Int64N(nblocks)
		if seen[b] {
			continue
		}
		seen[b] = true
		page := c.rng.Int64N(blockSize / pageSize)
		p := buf[len(writes)*pageSize : (len(writes)+1)*pageSize]
		c.dataFill(p)
		writes = append(writes, write{off: b*blockSize + page*pageSize, data: p})
	}
	return writes
}

// changedBlocks returns the sorted block indexes a change writes.
func changedBlocks(ws []write) []int64 {
	out := make([]int64, len(ws))
	for i, w := range ws {
		out[i] = w.off / blockSize
	}
	slices.Sort(out)
	return out
}

// makeBlockChange returns whole-block writes of count distinct blocks, in
// increasing order, with data a host writes (for the apply workload).
func makeBlockChange(seed, salt uint64, size, count int64) []write {
	c := newContent(seed, salt)
	nblocks := size / blockSize
	count = min(max(count, 1), nblocks)
	picked := make(map[int64]bool, count)
	for int64(len(picked)) < count {
		picked[c.rng.Int64N(nblocks)] = true
	}
	blocks := make([]int64, 0, count)
	for b := range picked {
		blocks = append(blocks, b)
	}
	slices.Sort(blocks)
	buf := make([]byte, count*blockSize)
	writes := make([]write, len(blocks))
	for i, b := range blocks {
		p := buf[i*blockSize : (i+1)*blockSize]
		c.dataFill(p)
		writes[i] = write{off: b * blockSize, data: p}
	}
	return writes
}
