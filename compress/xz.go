package compress

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"hash/crc64"
	"io"

	"github.com/hermetic-repart/hermetic-repart/compress/internal/lzma"
)

// The .xz container (https://tukaani.org/xz/xz-file-format.txt) framed
// as liblzma's multi-threaded encoder frames it, around LZMA2 data from
// our port of its encoder: for input X at level N the file equals
// `xz -T2 -N --block-size=B -c X` byte for byte, B being xzBlockSize(N).

// xzDictSize is the dictionary size of xz's presets 0-9.
func xzDictSize(level int) int {
	sizes := [...]int{256 << 10, 1 << 20, 2 << 20, 4 << 20, 4 << 20, 8 << 20, 8 << 20, 16 << 20, 32 << 20, 64 << 20}
	return sizes[max(0, min(level, 9))]
}

// xzBlockSize is the uncompressed size of each block: three times the
// dictionary, as xz -T uses by default, but at least 48 MiB. Every block
// starts with an empty dictionary, which costs ratio. At level 3, against
// xz -T1 -3 (one block), on a 384 MiB slice of an ext4 image of /usr and
// on 192 MiB of the root of bench/compress-compare.sh's xz image (whose
// generated files repeat a pool of 8 MiB):
//
//	block    /usr slice   bench slice   blocks in 1 GiB
//	12 MiB   +1.97 %                    86  (xz -T2 -3, byte for byte)
//	24 MiB   +1.01 %      +3.08 %       43
//	32 MiB   +0.84 %      +2.37 %       32
//	48 MiB   +0.51 %      +1.32 %       22
//
// 48 MiB keeps within 2 % of single-threaded xz on both. The price is
// parallelism on small images: a block is the unit of work, so an image
// with less than a few hundred MiB of data keeps two threads busy only
// part of the time.
func xzBlockSize(level int) int64 { return max(3*int64(xzDictSize(level)), 48<<20) }

var (
	xzMagic    = []byte{0xFD, '7', 'z', 'X', 'Z', 0}
	xzFlags    = []byte{0, 0x04} // check type: CRC64
	crc64Table = crc64.MakeTable(crc64.ECMA)
)

const xzCheckSize = 8 // CRC64

// xzBlockBound is liblzma's lzma_block_buffer_bound64: the most a block
// of n bytes may take, stored in LZMA2 chunks that are not compressed,
// with the largest headers.
func xzBlockBound(n int64) int64 {
	const headersBound = (1 + 1 + 2*9 + 3 + 4 + 64 + 3) &^ 3
	return headersBound + (lzma2StoredSize(n)+3)&^3
}

// lzma2StoredSize is the size of n bytes in 64 KiB stored LZMA2 chunks.
func lzma2StoredSize(n int64) int64 { return n + (n+65535)/65536*3 + 1 }

func uvarintLen(v int64) int { return len(binary.AppendUvarint(nil, uint64(v))) }

// xzHeaderSize is lzma_block_header_size for a block header with both
// sizes and one LZMA2 filter.
func xzHeaderSize(compressed, uncompressed int64) int {
	return (1+1+uvarintLen(compressed)+uvarintLen(uncompressed)+3+3)&^3 + 4
}

type xzCodec struct {
	level   int
	dict    int
	block   int64
	bound   int64 // xzBlockBound(block): the output space of one block
	hdrSize int   // header size reserved for every block, as xz -T does
	zero    zeroCache
	records [][2]int64 // unpadded size, uncompressed size
}

func newXZCodec(level int) (codec, error) {
	if level < 0 || level > 9 {
		return nil, fmt.Errorf("xz level %d out of range 0-9", level)
	}
	return newXZCodecBlock(level, xzBlockSize(level)), nil
}

func newXZCodecBlock(level int, block int64) *xzCodec {
	bound := xzBlockBound(block)
	return &xzCodec{
		level:   level,
		dict:    xzDictSize(level),
		block:   block,
		bound:   bound,
		hdrSize: xzHeaderSize(bound, block),
	}
}

func (c *xzCodec) begin(w io.Writer) error {
	h := append(append([]byte{}, xzMagic...), xzFlags...)
	h = binary.LittleEndian.AppendUint32(h, crc32.ChecksumIEEE(xzFlags))
	_, err := w.Write(h)
	return err
}

func (c *xzCodec) newEncoder() (encoder, error) {
	e, err := lzma.NewEncoder(c.level)
	if err != nil {
		return nil, err
	}
	return &xzEncoder{c: c, lz: e}, nil
}

type xzEncoder struct {
	c  *xzCodec
	lz *lzma.Encoder
}

func (e *xzEncoder) encode(dst, p []byte, zero bool) (result, error) {
	if zero && int64(len(p)) == e.c.block {
		return e.c.zero.get(len(p), func(p []byte) (result, error) { return e.encodeBlock(nil, p) })
	}
	return e.encodeBlock(dst, p)
}

func (e *xzEncoder) bound(n int) int { return e.c.hdrSize + int(xzBlockBound(int64(n))) }

// encodeBlock writes one block as liblzma's multi-threaded encoder does:
// the header is sized for the largest possible block and padded when
// the real sizes are shorter; a block whose LZMA2 data would not fit in
// xzBlockBound is stored instead, with a 4 KiB dictionary property.
func (e *xzEncoder) encodeBlock(dst, p []byte) (result, error) {
	c := e.c
	hs := c.hdrSize
	out := dst[:0]
	if int64(cap(out)) < int64(hs)+c.bound {
		out = make([]byte, 0, int64(hs)+c.bound)
	}
	out = out[:hs]
	out = e.lz.Encode(out, p)
	comp := int64(len(out) - hs)
	dictByte := lzma.DictByte(c.dict)
	if int64(hs)+(comp+3)&^3+xzCheckSize > c.bound {
		comp = lzma2StoredSize(int64(len(p)))
		hs = xzHeaderSize(comp, int64(len(p)))
		dictByte = lzma.DictByte(0)
		out = storeLZMA2(out[:hs], p)
	}
	h := out[:hs]
	clear(h)
	h[0] = byte(hs/4 - 1)
	h[1] = 0xC0 // both sizes present, one filter
	v := binary.AppendUvarint(h[:2], uint64(comp))
	v = binary.AppendUvarint(v, uint64(len(p)))
	_ = append(v, 0x21, 1, dictByte) // LZMA2 and its dictionary size
	binary.LittleEndian.PutUint32(h[hs-4:], crc32.ChecksumIEEE(h[:hs-4]))

	for len(out)%4 != 0 {
		out = append(out, 0)
	}
	out = binary.LittleEndian.AppendUint64(out, crc64.Checksum(p, crc64Table))
	return result{data: out, unpadded: int64(hs) + comp + xzCheckSize, n: int64(len(p))}, nil
}

// storeLZMA2 appends p as stored LZMA2 chunks of 64 KiB, the first one
// resetting the dictionary (liblzma's block_encode_uncompressed).
func storeLZMA2(out, p []byte) []byte {
	ctrl := byte(1)
	for len(p) > 0 {
		n := min(len(p), 65536)
		out = append(out, ctrl, byte((n-1)>>8), byte(n-1))
		out = append(out, p[:n]...)
		p = p[n:]
		ctrl = 2
	}
	return append(out, 0)
}

func (c *xzCodec) record(r result) { c.records = append(c.records, [2]int64{r.unpadded, r.n}) }

// end writes the index and the stream footer.
func (c *xzCodec) end(w io.Writer) error {
	idx := []byte{0}
	idx = binary.AppendUvarint(idx, uint64(len(c.records)))
	for _, r := range c.records {
		idx = binary.AppendUvarint(idx, uint64(r[0]))
		idx = binary.AppendUvarint(idx, uint64(r[1]))
	}
	for len(idx)%4 != 0 {
		idx = append(idx, 0)
	}
	idx = binary.LittleEndian.AppendUint32(idx, crc32.ChecksumIEEE(idx))

	f := binary.LittleEndian.AppendUint32(nil, uint32(len(idx)/4-1)) // backward size
	f = append(f, xzFlags...)
	foot := binary.LittleEndian.AppendUint32(nil, crc32.ChecksumIEEE(f))
	foot = append(append(foot, f...), 'Y', 'Z')
	_, err := w.Write(append(idx, foot...))
	return err
}
