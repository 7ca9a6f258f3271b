package compress

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"hash/crc64"
	"io"

	"github.com/ulikunitz/xz/lzma"
)

// The .xz container (https://tukaani.org/xz/xz-file-format.txt) is
// written here because ulikunitz/xz keeps its block and index types
// unexported; it only encodes raw LZMA2, which is what a block holds.
//
// Ratio: ulikunitz's only usable match finder (HashTable4) is weaker than
// xz's. On a 1.5 GiB ext4 image holding 486 MiB of /usr files, level 3
// gives 155.3 MB against 140.6 MB for xz -T1 -3 (+10.4 %) and 142.8 MB for
// xz -T2 -3 (+8.7 %); level 6 gives 154.3 MB. Independent blocks cost
// little (+0.5 % on a binary sample); the gap is the encoder, mostly on
// text (+9 % on a 12 MiB sample of Python sources).

// xzDictSize is the dictionary size of xz's presets 0-9.
func xzDictSize(level int) int {
	sizes := [...]int{256 << 10, 1 << 20, 2 << 20, 4 << 20, 4 << 20, 8 << 20, 8 << 20, 16 << 20, 32 << 20, 64 << 20}
	return sizes[max(0, min(level, 9))]
}

// xzBlockSize is the uncompressed size of each block: three times the
// dictionary, as xz -T uses by default, so our blocks lose about what
// multi-threaded xz loses.
func xzBlockSize(level int) int64 { return max(3*int64(xzDictSize(level)), 1<<20) }

// lzma2DictByte encodes a dictionary size in the LZMA2 filter property:
// size = (2 | b&1) << (b/2 + 11), rounded up.
func lzma2DictByte(size int) byte {
	for b := 0; b < 40; b++ {
		if (2|b&1)<<(b/2+11) >= size {
			return byte(b)
		}
	}
	return 40
}

var (
	xzMagic    = []byte{0xFD, '7', 'z', 'X', 'Z', 0}
	xzFlags    = []byte{0, 0x04} // check type: CRC64
	crc64Table = crc64.MakeTable(crc64.ECMA)
)

type xzCodec struct {
	dict    int
	block   int64
	zero    zeroCache
	records [][2]int64 // unpadded size, uncompressed size
}

func newXZCodec(level int) (codec, error) {
	if level < 0 || level > 9 {
		return nil, fmt.Errorf("xz level %d out of range 0-9", level)
	}
	return &xzCodec{dict: xzDictSize(level), block: xzBlockSize(level)}, nil
}

func (c *xzCodec) begin(w io.Writer) error {
	h := append(append([]byte{}, xzMagic...), xzFlags...)
	h = binary.LittleEndian.AppendUint32(h, crc32.ChecksumIEEE(xzFlags))
	_, err := w.Write(h)
	return err
}

func (c *xzCodec) newEncoder() (encoder, error) { return &xzEncoder{c: c}, nil }

type xzEncoder struct {
	c   *xzCodec
	buf bytes.Buffer
}

func (e *xzEncoder) encode(p []byte, zero bool) (result, error) {
	if zero && int64(len(p)) == e.c.block {
		return e.c.zero.get(len(p), e.encodeBlock)
	}
	return e.encodeBlock(p)
}

func (e *xzEncoder) encodeBlock(p []byte) (result, error) {
	e.buf.Reset()
	cfg := lzma.Writer2Config{
		Properties: &lzma.Properties{LC: 3, LP: 0, PB: 2},
		DictCap:    e.c.dict,
		Matcher:    lzma.HashTable4,
	}
	w, err := cfg.NewWriter2(&e.buf)
	if err == nil {
		_, err = w.Write(p)
	}
	if err == nil {
		err = w.Close()
	}
	if err != nil {
		return result{}, fmt.Errorf("lzma2: %w", err)
	}
	comp := e.buf.Bytes()

	h := []byte{0, 0xC0} // header size (below); flags: 1 filter, both sizes present
	h = binary.AppendUvarint(h, uint64(len(comp)))
	h = binary.AppendUvarint(h, uint64(len(p)))
	h = append(h, 0x21, 1, lzma2DictByte(e.c.dict)) // LZMA2 filter and its property
	for (len(h)+4)%4 != 0 {
		h = append(h, 0)
	}
	h[0] = byte((len(h)+4)/4 - 1)
	h = binary.LittleEndian.AppendUint32(h, crc32.ChecksumIEEE(h))

	out := make([]byte, 0, len(h)+len(comp)+3+8)
	out = append(append(out, h...), comp...)
	for len(out)%4 != 0 {
		out = append(out, 0)
	}
	out = binary.LittleEndian.AppendUint64(out, crc64.Checksum(p, crc64Table))
	return result{data: out, unpadded: int64(len(h) + len(comp) + 8), n: int64(len(p))}, nil
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
