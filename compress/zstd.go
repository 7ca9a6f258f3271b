package compress

import (
	"encoding/binary"
	"io"

	"github.com/klauspost/compress/zstd"
)

// ZstdChunkSize is the input size of each frame in the Zstd format.
// Frames cannot refer back across a boundary, so each one costs a little
// ratio, and each thread holds a chunk and its encoder state in memory.
// Measured on a 1.5 GiB ext4 image holding 486 MiB of /usr files, against
// zstd -T2 of the same level (ratio loss; peak RSS at 2 threads):
//
//	chunk    level 3   level 7   RSS
//	 8 MiB   +1.4 %    +4.7 %    115 MB
//	16 MiB   +0.8 %    +3.5 %    177 MB
//	32 MiB   +0.2 %    +2.5 %    270 MB
//	64 MiB   +0.1 %    +2.3 %    440 MB
//
// Most of the loss at level 7 is klauspost's encoder, not the chunking;
// at level 1 we are 5 % smaller than zstd -1.
const ZstdChunkSize = 32 << 20

// SeekableFrameSize is the input size of each frame in the ZstdSeekable
// format, as image.repart passes to zeekstd (--frame-size 2M).
const SeekableFrameSize = 2 << 20

// zstdWindow is fixed so the frames do not depend on library defaults
// that could vary with the level mapping; 8 MiB is klauspost's default
// and well within zstd -d's default limit of 128 MiB.
const zstdWindow = 8 << 20

const (
	skippableMagic = 0x184D2A5E
	seekableMagic  = 0x8F92EAB1
)

type zstdCodec struct {
	level    int
	seekable bool
	zero     zeroCache
	// entries of the seek table: compressed and decompressed frame sizes.
	entries [][2]uint32
}

func newZstdCodec(level int, seekable bool) (*zstdCodec, error) {
	c := &zstdCodec{level: level, seekable: seekable}
	// Fail early on bad options rather than in a worker.
	e, err := c.newEncoder()
	if err != nil {
		return nil, err
	}
	e.(*zstdEncoder).enc.Close()
	return c, nil
}

func (c *zstdCodec) chunk() int {
	if c.seekable {
		return SeekableFrameSize
	}
	return ZstdChunkSize
}

func (c *zstdCodec) begin(io.Writer) error { return nil }

func (c *zstdCodec) newEncoder() (encoder, error) {
	// Concurrency 1 and EncodeAll: klauspost's output differs between
	// concurrency 1 and ≥2, so parallelism comes from our chunks only.
	enc, err := zstd.NewWriter(nil,
		zstd.WithEncoderLevel(zstd.EncoderLevelFromZstd(c.level)),
		zstd.WithEncoderConcurrency(1),
		zstd.WithWindowSize(zstdWindow),
		zstd.WithEncoderCRC(true),
		zstd.WithZeroFrames(true),
	)
	if err != nil {
		return nil, err
	}
	return &zstdEncoder{c: c, enc: enc}, nil
}

type zstdEncoder struct {
	c   *zstdCodec
	enc *zstd.Encoder
}

// bound is above ZSTD_compressBound (n + n/256 + a little for small
// inputs), which klauspost's encoder stays within as well.
func (e *zstdEncoder) bound(n int) int { return n + n>>7 + 64<<10 }

func (e *zstdEncoder) encodeAll(dst, p []byte) (result, error) {
	out := e.enc.EncodeAll(p, dst[:0])
	return result{data: out, unpadded: int64(len(out)), n: int64(len(p))}, nil
}

func (e *zstdEncoder) encode(dst, p []byte, zero bool) (result, error) {
	if zero && len(p) == e.c.chunk() {
		return e.c.zero.get(len(p), func(p []byte) (result, error) { return e.encodeAll(nil, p) })
	}
	return e.encodeAll(dst, p)
}

func (c *zstdCodec) empty() (result, bool, error) {
	e, err := c.newEncoder()
	if err != nil {
		return result{}, false, err
	}
	defer e.(*zstdEncoder).enc.Close()
	r, err := e.(*zstdEncoder).encodeAll(nil, nil)
	return r, true, err
}

func (c *zstdCodec) record(r result) {
	if c.seekable {
		c.entries = append(c.entries, [2]uint32{uint32(len(r.data)), uint32(r.n)})
	}
}

// end writes the seek table of the seekable format: a skippable frame
// holding one entry per frame (without the optional checksums; every
// frame carries its own content checksum) and the footer.
func (c *zstdCodec) end(w io.Writer) error {
	if !c.seekable {
		return nil
	}
	b := binary.LittleEndian.AppendUint32(nil, skippableMagic)
	b = binary.LittleEndian.AppendUint32(b, uint32(8*len(c.entries)+9))
	for _, e := range c.entries {
		b = binary.LittleEndian.AppendUint32(b, e[0])
		b = binary.LittleEndian.AppendUint32(b, e[1])
	}
	b = binary.LittleEndian.AppendUint32(b, uint32(len(c.entries)))
	b = append(b, 0) // descriptor: no checksums
	b = binary.LittleEndian.AppendUint32(b, seekableMagic)
	_, err := w.Write(b)
	return err
}
